"""The Train page's view of a run: its place in the queue, or its progress line, status, losses, the encoded
test points against the prior, the discriminator's view, and the Stop / Use / New run buttons.

The worker never calls Streamlit: a fragment polls the run's status once a second and draws it here."""

import time

import streamlit as st

from explorer import figures, game_layers, runs, settings, state


def use_model(out: str) -> None:
    """The Use button: the finished run becomes the picked model."""
    st.session_state[state.MODEL_KEY] = out


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '1 h 05 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def ordinal(n: int) -> str:
    """'1st', '2nd', '11th', '23rd'."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def speed(s: runs.JobStatus) -> str:
    """The measured speed (the status's recent window) and, while running, the time left at that speed."""
    if s.steps_per_s is None:
        return "measuring the speed..." if not s.done else ""
    text = f"{s.steps_per_s:,.1f} steps/s ({s.images_per_s:,.0f} images/s)"
    if not s.done and s.seconds_left is not None:
        text += f" · about {duration(s.seconds_left)} left"
    return text


def progress_text(s: runs.JobStatus) -> str:
    """One line that agrees with the state: whole epochs complete, and how far into the next one."""
    if not s.total_steps:
        return s.message
    if s.state == "finished":
        parts = [f"{s.epochs} of {s.epochs} epochs complete", f"{s.step:,} steps in {duration(s.elapsed)}"]
    elif s.done:
        parts = [f"{s.epoch} of {s.epochs} epochs complete"
                 + (f" + {s.epoch_steps} of {s.steps_per_epoch} steps into epoch {s.epoch + 1}" if s.epoch_steps
                    else ""), duration(s.elapsed)]
    else:
        parts = [f"epoch {s.epoch + 1} of {s.epochs}", f"step {s.step:,} of {s.total_steps:,}", duration(s.elapsed)]
    return " · ".join([*parts, speed(s)]).rstrip(" ·")


def draw_queued(s: runs.JobStatus, user: str) -> None:
    """A run waiting for a trainer: its place, its wait, and the button that leaves the queue."""
    k = runs.REGISTRY.max_running
    head, leave_col = st.columns([5, 1])
    head.subheader(f"Run {s.out.name}: waiting for a trainer")
    leave_col.button("Leave the queue", key="leave_queue", on_click=runs.REGISTRY.leave_queue, args=(user,),
                     icon=":material/logout:", type="primary")
    waited = duration(time.time() - s.queued_at)
    st.progress(0.0, text=f"{ordinal(s.queue_position or 1)} in the queue · waiting for {waited}")
    st.info(f"You are {ordinal(s.queue_position or 1)} in the queue ({s.queue_length} waiting). This server trains "
            f"{k} run{'s' if k != 1 else ''} at a time, so that each gets the cores it needs; yours starts by "
            f"itself when the runs ahead of it end. You may switch page or reload meanwhile. {runs.time_limit_note()}",
            icon=":material/hourglass_top:")


def draw(job: runs.TrainingJob, s: runs.JobStatus, user: str) -> None:
    """The live (or final) view of a run."""
    if s.state == "queued":
        draw_queued(s, user)
        return
    if s.state == "left":           # it never trained: only why (the form below starts another)
        st.warning(f"Run {s.out.name}: {s.message}", icon=":material/logout:")
        return
    head, stop_col = st.columns([5, 1])
    head.subheader(f"Run {s.out.name}")
    if not s.done:
        stop_col.button("Stop", key="stop_run", on_click=job.stop, icon=":material/stop_circle:", type="primary")
    st.progress(s.progress, text=progress_text(s))
    if s.state == "finished":
        st.success(f"{s.message}. It is now in the model picker.")
    elif s.state == "stopped":
        st.warning(f"{s.message}. The checkpoint is in the model picker." if s.has_checkpoint else s.message)
    elif s.state == "diverged":
        st.error(f"Training diverged: {s.message}")
    elif s.state == "failed":
        st.error(s.message)
    else:
        st.caption(s.message)
    if s.evicted:
        st.info(f"Each user keeps at most {runs.REGISTRY.max_runs} runs and "
                f"{runs.REGISTRY.quota_bytes / settings.MB:,.0f} MB of them on this server, so your oldest "
                f"{'run was' if len(s.evicted) == 1 else 'runs were'} removed: {', '.join(s.evicted)}.",
                icon=":material/delete_sweep:")
    if s.server_evicted:
        st.info(f"This server keeps at most {settings.server_max_runs()} trained runs and "
                f"{settings.server_quota_bytes() / settings.MB:,.0f} MB of them for all users together, so its "
                f"oldest were removed: {', '.join(s.server_evicted)}.", icon=":material/delete_sweep:")
    if s.done:
        c1, c2, _ = st.columns([1, 1, 3])
        if s.has_checkpoint:
            c1.button("Use this model", key="use_run", on_click=use_model, args=(str(s.out.resolve()),),
                      icon=":material/check:")
        c2.button("New run", key="new_run", on_click=runs.REGISTRY.forget, args=(user,), icon=":material/add:")
    left, right = st.columns(2)
    with left:
        st.markdown("**Losses** (smoothed per mini-batch)")
        st.plotly_chart(figures.loss_figure(s.losses), key="loss_chart", config={"displayModeBar": False})
        if s.history:
            keep = list(dict.fromkeys(k for h in s.history for k in h if k not in ("step", "partial")))
            st.dataframe([{k: round(h[k], 4) if isinstance(h[k], float) else h[k] for k in keep if k in h}
                          for h in s.history], hide_index=True, height=150)
            if s.history[-1].get("partial"):
                st.caption(f"The last row is the part of epoch {s.epoch + 1} done before the stop "
                           f"({s.epoch_steps} of {s.steps_per_epoch} steps).")
    with right:
        st.markdown("**Encoded test points vs prior samples** (first two code dimensions)")
        if s.snapshot is not None:
            st.plotly_chart(figures.snapshot_figure(s.snapshot, axis_range=figures.snapshot_range(s.snapshot)),
                            key="snapshot_chart")
        else:
            st.caption("The first picture appears when the data is loaded.")
        if job.model_config.latent_dim == 2 and game_layers.has_timeline(s.out):
            st.markdown("**The discriminator's view**" + (" and the training timeline" if s.done else
                                                           " (the run's latest recorded snapshot)"))
            game_layers.timeline_player(s.out, job.model_config, None, "train_timeline", latest_only=not s.done,
                                        height=440)


@st.fragment(run_every=1.0)
def live(job: runs.TrainingJob, user: str) -> None:
    """Polls the worker once a second (a waiting run too: its place and its start); the worker itself never
    calls Streamlit."""
    s = job.status()
    if s.done:
        st.rerun()  # a full run: the picker lists the checkpoint and polling stops
    draw(job, s, user)


def show(job: runs.TrainingJob, user: str) -> None:
    """The user's run: drawn once when it is over, else polled live; the page below it (the form) waits until
    the run ends."""
    s = job.status()
    if s.done:
        draw(job, s, user)
    else:
        live(job, user)
        st.stop()

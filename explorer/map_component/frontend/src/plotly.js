// The Plotly the map draws with: its core (axes, legend, shapes, annotations, layout images, PNG export) and
// the three trace types the app's maps use (explorer/map_view.py BROWSER_TRACES): scatter, scattergl, and
// heatmap (D's verdict under the codes). A third of the full bundle's size and start-up, in a frame that is
// made on every page that shows a map.
import Plotly from "plotly.js/lib/core";
import scatter from "plotly.js/lib/scatter";
import scattergl from "plotly.js/lib/scattergl";
import heatmap from "plotly.js/lib/heatmap";

Plotly.register([scatter, scattergl, heatmap]);
export default Plotly;

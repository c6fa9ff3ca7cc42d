"""Run a TF.js graph model in TensorFlow, for the reference outputs of export/detector.py and
export/pose.py.

    WORK/venv/bin/python export/tfjs_run.py MODEL.json INPUTS.npz OUTPUTS.npz

Runs in the build environment (tensorflow-cpu, tf2onnx), not in alttext's: it imports neither
alttext nor onnx. INPUTS.npz holds `images` (B, ...) for the graph's one input; OUTPUTS.npz gets
every graph output under its TF.js name, batch by batch of 1 (the graph holds a batch of 1).
"""

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf.json_format import ParseDict
from tensorflow.core.framework import graph_pb2
from tf2onnx.tfjs_utils import read_tfjs_weight


def read_graph(model_json: Path) -> tuple[graph_pb2.GraphDef, dict]:
    """The TF.js graph as a TensorFlow GraphDef, its constants filled from the weight files."""
    model = json.loads(model_json.read_text())
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join((model_json.parent / name).read_bytes() for name in group["paths"])
        offset = 0
        for weight in group["weights"]:
            name, array, size = read_tfjs_weight(weight, data, offset)
            weights[name] = array
            offset += size
    graph = graph_pb2.GraphDef()
    for node in model["modelTopology"]["node"]:
        node_def = graph.node.add()
        ParseDict(node, node_def)
        if node["op"] == "FusedDepthwiseConv2dNative":
            # TF.js's own op; TensorFlow's is the grappler one, without explicit_paddings (as tf2onnx does)
            node_def.op = "_FusedDepthwiseConv2dNative"
            if "explicit_paddings" in node_def.attr:
                del node_def.attr["explicit_paddings"]
        if node["op"] == "Const":
            dtype = tf.as_dtype(node_def.attr["dtype"].type).as_numpy_dtype
            array = weights[node["name"]].astype(dtype)
            node_def.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(array, shape=array.shape))
    return graph, model["signature"]


def main(model_json: str, inputs: str, outputs: str) -> None:
    graph, signature = read_graph(Path(model_json))
    # by the tensor names, which are not always the signature's keys (MoveNet's: input, output_0)
    [input_name] = [tensor["name"] for tensor in signature["inputs"].values()]
    names = sorted(tensor["name"] for tensor in signature["outputs"].values())
    images = np.load(inputs)["images"]
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph, name="")
    with tf.compat.v1.Session(graph=g) as session:
        results = [session.run(names, {input_name: images[i:i + 1]}) for i in range(len(images))]
    np.savez(outputs, **{name: np.concatenate([r[k] for r in results]) for k, name in enumerate(names)})


if __name__ == "__main__":
    main(*sys.argv[1:])

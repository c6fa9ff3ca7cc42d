"""Torch checkpoint -> alttext model bundle (model.json + encoder.onnx + decoder.onnx)."""

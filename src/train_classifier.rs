//! Training target classifiers with candle and exporting them as ONNX.

"""Serving an exported P-Net with TF Serving (see docs/serving.md).

    exporter        export_saved_model: EXPORT_DIR/<version>/, written then renamed
    export_module   SegmenterModule: the saved tf.Module (P-Net's variables, signatures)
    signatures      the signature table (inputs, outputs)
    preprocess      in-graph decoding, resizing, padding and post-processing
    warmup          assets.extra/tf_serving_warmup_requests
    protos          PredictRequest / PredictionLog (tensorflow-serving-api's, or built)
    requests        client side: PredictRequests and REST bodies
    trained_pnet    a run's P-Net checkpoint and class names
    predictor       ExportedSegmenter: an export in this process
    overlay         overlay and class-map pictures
    versions        TF Serving's version folders
"""

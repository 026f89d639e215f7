"""SageMaker serving handlers for batch transform (model_fn, input_fn, predict_fn, output_fn)."""

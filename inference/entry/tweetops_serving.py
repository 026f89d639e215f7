"""Serving entry point for SageMaker's scikit-learn container (SAGEMAKER_PROGRAM): the tweetops handlers.

It lives in the image (SAGEMAKER_SUBMIT_DIRECTORY names this folder), never in model.tar.gz, so a model archive
cannot bring serving code of its own. Not named inference.py: the serving stack puts this folder first on
sys.path, where a module named inference would shadow the tweetops `inference` package imported below.
"""
from inference.handlers import input_fn, model_fn, output_fn, predict_fn  # noqa: F401

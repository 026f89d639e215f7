"""Classifier training: the scikit-learn model and its SageMaker training entry point."""

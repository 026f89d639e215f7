"""Data logic of tweetops: contract, ingestion/validation, cleaning, features, clustering, evaluation."""

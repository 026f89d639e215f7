"""Training-job entry point inside the tweetops image: the SageMaker training toolkit runs this file."""
import sys

from pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main(["train"]))

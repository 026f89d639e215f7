# The tweetops Lambda image: both AWS Lambda functions of the stack (infra/) run it. The review function applies an
# analyst's decisions (pipelines.review_lambda.handler, the CMD below); the trigger function starts pipelines on
# EventBridge events (pipelines.trigger_lambda.handler: the stack sets that command in its image config). tweetops
# core only: neither function embeds or clusters, so no [embeddings] extra (torch) and a much smaller image.
# Pushed beside the job image as <repository>:lambda-<tweetops version> (.github/workflows/release.yml).
# Build from the repository root (Lambda takes a single-platform manifest, hence no provenance attestation):
#   docker build --platform linux/amd64 --provenance=false -f docker/lambda.Dockerfile -t tweetops:lambda-<version> .
FROM public.ecr.aws/lambda/python:3.11

# /var/task is read-only at run time: caches that libraries write go to /tmp.
ENV PYTHONHASHSEED=0 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba

WORKDIR /opt/tweetops
COPY setup.py README.md ./
COPY pipelines/ pipelines/
COPY processing/ processing/
COPY training/ training/
COPY inference/ inference/
COPY register/ register/
COPY reports/ reports/
# Into the function's folder, as AWS's Lambda images expect. The base is Amazon Linux 2 (glibc 2.26): wheels only, so
# pip resolves to the newest releases built for it instead of trying to compile a newer source release. pip compiles
# the bytecode here: at run time the folder is read-only and every cold start would compile it again.
# (DL3013: the versions are pinned in setup.py.)
# hadolint ignore=DL3013
RUN python -m pip install --only-binary=:all: --target "${LAMBDA_TASK_ROOT}" .

WORKDIR ${LAMBDA_TASK_ROOT}
CMD ["pipelines.review_lambda.handler"]

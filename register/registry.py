"""The approval workflow over either registry backend: show a package, approve, reject, find the latest approved.

A backend is `register.local.LocalModelRegistry` (what run-local writes) or `register.sagemaker.
SageMakerModelRegistry`; both answer in boto3's shapes. Reading a package's metrics needs its evaluation.json,
so the operations take `read_json(uri)`: `local_backend` and `sagemaker_backend` return the right one with
the registry.

The rule: a package whose category map was never reviewed by an analyst is not approved unless the approver
says so explicitly (`allow_unreviewed_map`), and then the approval description says so too.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from processing.artifacts import MODEL_DIGEST_VARIABLE
from register.local import LocalModelRegistry, RegistryError

if TYPE_CHECKING:
    from register.sagemaker import SageMakerModelRegistry

ReadJson = Callable[[str], object]

# SageMaker's limit on ApprovalDescription.
MAX_DESCRIPTION_CHARS = 1024


def local_backend(home: str | Path) -> tuple[LocalModelRegistry, ReadJson]:
    """The local registry under `home` (as run-local writes it) and a reader of its local store."""
    from pipelines.local.store import LocalStore

    home = Path(home)
    path = home / "registry.db"
    if not path.is_file():  # opening would create an empty registry: say where we looked instead
        raise RegistryError(f"no local registry at {path}: run `tweetops run-local` first, or point --home "
                            "(or TWEETOPS_LOCAL_HOME) at its folder")
    store = LocalStore(home / "s3")

    def read_json(uri: str) -> object:
        file = store.path(uri)
        if not file.is_file():
            raise FileNotFoundError(f"{uri} not found (local store: {file})")
        return _parse(uri, file.read_bytes())

    return LocalModelRegistry(path), read_json


def sagemaker_backend(boto_session) -> tuple[SageMakerModelRegistry, ReadJson]:
    """The SageMaker Model Registry of the session's region and a reader of S3 objects."""
    from botocore.exceptions import BotoCoreError, ClientError

    from register.sagemaker import SageMakerModelRegistry

    s3 = boto_session.client("s3")

    def read_json(uri: str) -> object:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
        try:
            body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
        except ClientError as error:
            raise OSError(f"{uri}: {error.response['Error'].get('Code')}: "
                          f"{error.response['Error'].get('Message', '')}".rstrip(": ")) from None
        except BotoCoreError as error:
            raise OSError(f"{uri}: {error}") from None
        return _parse(uri, body)

    return SageMakerModelRegistry(boto_session.client("sagemaker")), read_json


def _parse(uri: str, data: bytes) -> object:
    """JSON from an object's bytes, a validated CategoryMap for a .yaml/.yml map, or ValueError naming the object."""
    if uri.lower().endswith((".yaml", ".yml")):
        from processing.category_map import parse_category_map

        return parse_category_map(data, uri)  # CategoryMapError is a ValueError naming the object
    try:
        return json.loads(data)
    except ValueError as error:  # also UnicodeDecodeError
        raise ValueError(f"{uri}: not JSON ({error})") from None


def resolve_package(registry, ref: str, group: str) -> str:
    """The ARN that `ref` names: an ARN as given, or a bare version number of `group`."""
    ref = ref.strip()
    if ref.startswith("arn:"):
        return ref
    if not ref.isdigit():
        raise RegistryError(f"expected a model package ARN or a version number, got {ref!r}")
    for summary in registry.list_model_packages(group):
        if summary["ModelPackageVersion"] == int(ref):
            return summary["ModelPackageArn"]
    raise RegistryError(f"no version {int(ref)} in model package group {group!r}")


def list_packages(registry, group: str, approval_status: str | None = None) -> list[dict]:
    """The group's versions, newest first, as rows: version, status, created, arn, group."""
    return [{"version": s["ModelPackageVersion"], "status": s.get("ModelApprovalStatus"),
             "created": s["CreationTime"], "arn": s["ModelPackageArn"], "group": s["ModelPackageGroupName"]}
            for s in registry.list_model_packages(group, approval_status=approval_status)]


def list_groups(registry) -> list[dict]:
    """Every model package group as rows: name, created, arn."""
    return [{"name": g["ModelPackageGroupName"], "created": g["CreationTime"], "arn": g["ModelPackageGroupArn"]}
            for g in registry.list_model_package_groups()]


def package_summary(registry, arn: str, read_json: ReadJson) -> dict:
    """What an approver needs about one package: status, metrics, category map, provenance, lineage."""
    package = registry.describe_model_package(arn)
    summary = summarize(package, read_json)
    try:
        summary["category_changes"] = map_comparison(registry, package, read_json)
    except (OSError, ValueError) as error:  # an unreadable map must not hide the rest of the summary
        summary["category_changes"] = {"error": str(error)}
    return summary


def summarize(package: dict, read_json: ReadJson) -> dict:
    """The summary of a DescribeModelPackage response (see package_summary); metrics read through `read_json`."""
    metadata = package.get("CustomerMetadataProperties", {})
    statistics = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    metrics, metrics_error = None, None
    if not statistics.get("S3Uri"):
        metrics_error = "the package records no model quality statistics"
    else:
        # A missing, unreadable or misshapen evaluation.json must not stop anyone from seeing the rest.
        try:
            metrics = _metrics(read_json(statistics["S3Uri"]))
        except (OSError, ValueError) as error:  # the readers name the object in their message
            metrics_error = str(error)
        except (KeyError, TypeError, AttributeError) as error:
            missing = f"no {error}" if isinstance(error, KeyError) else "unexpected layout"
            metrics_error = f"{statistics['S3Uri']}: not an evaluation.json ({missing})"
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return {
        "arn": package["ModelPackageArn"],
        "group": package.get("ModelPackageGroupName"),
        "version": package.get("ModelPackageVersion"),
        "status": package.get("ModelApprovalStatus"),
        "approval_description": package.get("ApprovalDescription"),
        "description": package.get("ModelPackageDescription"),
        "created": package.get("CreationTime"),
        "last_modified": package.get("LastModifiedTime"),
        "metrics": metrics,
        "metrics_uri": statistics.get("S3Uri"),
        "metrics_error": metrics_error,
        "category_map": {
            "version": metadata.get("category_map_version"),
            "hash": metadata.get("category_map_hash"),
            "reviewed": _reviewed(metadata),
            "uri": metadata.get("category_map_uri"),
        },
        "input_data_hash": metadata.get("input_data_hash"),
        "code_version": metadata.get("code_version"),
        "seed": metadata.get("seed"),
        "lineage": {
            "generated_by": package.get("MetadataProperties", {}).get("GeneratedBy"),
            "pipeline_execution": metadata.get("pipeline_execution"),
        },
        "model_data_url": containers[0].get("ModelDataUrl") if containers else None,
        "model_sha256": pinned_model_digest(package),
        "featurizer_sha256": metadata.get("featurizer_sha256"),
        "monitoring_baseline_uri": metadata.get("monitoring_baseline_uri"),
    }


def monitoring_parameters(package: dict) -> dict[str, str]:
    """The inference pipeline's BaselineUri and FeaturizerSha256 for a package (none for a package registered
    before monitoring existed: its Monitor step then says nothing was judged)."""
    metadata = package.get("CustomerMetadataProperties", {})
    if not metadata.get("monitoring_baseline_uri"):
        return {}
    return {"BaselineUri": metadata["monitoring_baseline_uri"], "FeaturizerSha256": metadata.get("featurizer_sha256", "")}


def package_category_map(package: dict, read_json: ReadJson):
    """The package's category map (a CategoryMap), or None for a package registered before maps were recorded."""
    uri = (package.get("CustomerMetadataProperties") or {}).get("category_map_uri")
    return read_json(uri) if uri else None


def approved_category_map(registry, group: str, read_json: ReadJson):
    """The category map of the group's latest approved package: the map evolution proposals are made against.
    RegistryError when no package is approved or the approved one records no map."""
    package = registry.latest_approved(group)
    if package is None:
        raise RegistryError(f"no approved model package in group {group!r}: no current category map (approve one, "
                            "or name the current map explicitly)")
    cmap = package_category_map(package, read_json)
    if cmap is None:
        raise RegistryError(f"the approved package {_name(package)} records no category_map_uri (registered before "
                            "packages carried their map); name the current map explicitly")
    return cmap


def map_comparison(registry, package: dict, read_json: ReadJson) -> dict | None:
    """How the package's categories differ from those of the group's latest approved package (another one):
    processing.evolution.lineage.map_changes plus "against" (that package's name); None when there is no approved
    package to compare with, or one of them records no map. Unreadable maps raise (ValueError/OSError)."""
    from processing.evolution.lineage import map_changes

    approved = registry.latest_approved(package.get("ModelPackageGroupName"))
    if approved is None or approved["ModelPackageArn"] == package["ModelPackageArn"]:
        return None
    old, new = package_category_map(approved, read_json), package_category_map(package, read_json)
    if old is None or new is None:
        return None
    return {**map_changes(old, new), "against": _name(approved), "reviewed": new.is_reviewed}


def pinned_model_digest(package: dict) -> str | None:
    """The classifier digest the package's serving container is pinned to (what model_fn verifies), or None."""
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    return (containers[0].get("Environment") or {}).get(MODEL_DIGEST_VARIABLE) if containers else None


def _reviewed(metadata: dict) -> bool | None:
    """Whether the package's category map was reviewed: True, False, or None when it does not say."""
    return {"true": True, "false": False}.get(str(metadata.get("category_map_reviewed", "")).lower())


def _metrics(evaluation: dict) -> dict:
    """Held-out macro-F1, accuracy and size from an evaluation.json, with the gold-set figures when present."""
    held_out = evaluation["multiclass_classification_metrics"]
    metrics = {"macro_f1": held_out["macro_f1"]["value"], "accuracy": held_out["accuracy"]["value"],
               "n_samples": held_out.get("n_samples"), "gold": None}
    gold = evaluation.get("gold")
    if gold:
        metrics["gold"] = {"macro_f1": gold["macro_f1"]["value"], "accuracy": gold["accuracy"]["value"],
                           "n_samples": gold.get("n_samples"),
                           "categories_named_as_gold": gold.get("categories_named_as_gold"),
                           "agreement": gold.get("agreement")}
    return metrics


def _description(verb: str, by: str, reason: str, note: str = "") -> str:
    """"<verb> by <who>[ <note>]: <why>" on one line, within SageMaker's length limit."""
    by, reason = " ".join(by.split()), " ".join(reason.split())  # the API takes no line breaks
    if not by:
        raise RegistryError("say who decides (--by)")
    if not reason:
        raise RegistryError("say why (--reason)")
    text = f"{verb} by {by}{note}: {reason}"
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise RegistryError(f"the approval description is {len(text)} characters; SageMaker keeps at most "
                            f"{MAX_DESCRIPTION_CHARS}: shorten --reason")
    return text


def _name(package: dict) -> str:
    """"<group> version <n>" of a package (its ARN when it has no version)."""
    if package.get("ModelPackageVersion") is None:
        return package["ModelPackageArn"]
    return f"{package.get('ModelPackageGroupName')} version {package['ModelPackageVersion']}"


def approve(registry, arn: str, by: str, reason: str, allow_unreviewed_map: bool = False,
            read_json: ReadJson | None = None) -> dict:
    """Approve a package, recording who and why; refused when its category map is not marked reviewed,
    unless `allow_unreviewed_map` (the description then says the map was unreviewed). With `read_json`, a package
    whose categories differ from the approved package's needs a reviewed map whatever the flag says, and the
    description names the change."""
    package = registry.describe_model_package(arn)
    comparison = map_comparison(registry, package, read_json) if read_json else None
    if comparison and comparison["changed"] and not comparison["reviewed"]:
        from processing.evolution.lineage import describe_changes

        listed = "; ".join(describe_changes(comparison)) or "the same names with other clusters"
        raise RegistryError(f"not approved: the categories of {_name(package)} differ from those of the approved "
                            f"{comparison['against']} ({listed}) and its category map (version "
                            f"{comparison['to_version']}) was not reviewed; a changed category scheme needs an "
                            "analyst's review (`tweetops review`) before approval, --allow-unreviewed-map does not "
                            "cover it")
    metadata = package.get("CustomerMetadataProperties", {})
    if not pinned_model_digest(package):
        raise RegistryError(f"not approved: {_name(package)} pins no model digest ({MODEL_DIGEST_VARIABLE} in its "
                            "serving environment), so serving would refuse to load it; register it again with the "
                            "current training pipeline (docs/security.md)")
    note = ""
    if _reviewed(metadata) is not True:
        if not allow_unreviewed_map:
            state = "was never reviewed" if _reviewed(metadata) is False else "has no review record"
            raise RegistryError(
                f"not approved: the category map of {_name(package)} {state} "
                f"(category_map_reviewed={metadata.get('category_map_reviewed', 'missing')}); have an analyst "
                "review it and retrain, or pass --allow-unreviewed-map to approve it anyway")
        note = " with an unreviewed category map"
    if comparison and comparison["changed"]:
        note += f" (category map version {comparison['from_version']} -> {comparison['to_version']}, reviewed)"
    return _decide(registry, package, "Approved", _description("approved", by, reason, note))


def reject(registry, arn: str, by: str, reason: str) -> dict:
    """Reject a package, recording who and why."""
    package = registry.describe_model_package(arn)
    return _decide(registry, package, "Rejected", _description("rejected", by, reason))


def _decide(registry, package: dict, status: str, description: str) -> dict:
    """Set the package's approval status and description; returns what changed."""
    registry.update_model_package(package["ModelPackageArn"], status, description)
    return {"arn": package["ModelPackageArn"], "group": package.get("ModelPackageGroupName"),
            "version": package.get("ModelPackageVersion"), "name": _name(package),
            "previous_status": package.get("ModelApprovalStatus"), "status": status,
            "approval_description": description}


def latest(registry, group: str, read_json: ReadJson) -> dict | None:
    """The summary of the group's latest approved package, or None when none is approved."""
    package = registry.latest_approved(group)
    return None if package is None else summarize(package, read_json)

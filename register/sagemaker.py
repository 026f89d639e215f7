"""The SageMaker Model Registry behind the same methods as `register.local.LocalModelRegistry`.

Responses are boto3's own shapes (as LocalModelRegistry mirrors them), so `register.registry` works on either.
Listing follows every page; requests SageMaker refuses (an unknown package or group) become RegistryError
with AWS's message, other AWS failures propagate as botocore errors.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from register.local import RegistryError, _check_status, check_listing

# What SageMaker answers for a name or ARN it does not know (moto answers ValidationException too).
_NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound")


def _refused(error: ClientError, what: str) -> RegistryError:
    """A RegistryError saying what was asked and AWS's reason."""
    return RegistryError(f"{what}: {error.response['Error'].get('Message') or error}")


class SageMakerModelRegistry:
    """Model packages in SageMaker through a boto3 `sagemaker` client: list, describe, approve, latest approved."""

    def __init__(self, client, page_size: int | None = None):
        """Wrap a boto3 `sagemaker` client; `page_size` caps the items per list request (None: the API's default)."""
        self.client = client
        self.pagination = {"PageSize": page_size} if page_size else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self.client.meta.region_name!r})"

    def _pages(self, operation: str, key: str, **request) -> list[dict]:
        """Every item under `key` of every page of a list operation."""
        pages = self.client.get_paginator(operation).paginate(**request, PaginationConfig=self.pagination)
        return [item for page in pages for item in page[key]]

    def list_model_package_groups(self) -> list[dict]:
        """ModelPackageGroupSummary of every group, by name."""
        return self._pages("list_model_package_groups", "ModelPackageGroupSummaryList",
                           SortBy="Name", SortOrder="Ascending")

    def list_model_packages(
        self, group: str, approval_status: str | None = None, sort_order: str = "Descending"
    ) -> list[dict]:
        """ModelPackageSummary of the group's versions, optionally of one approval status, ordered by version."""
        check_listing(approval_status, sort_order)
        self._require_group(group)
        request = {"ModelPackageGroupName": group, "ModelPackageType": "Versioned", "SortBy": "CreationTime",
                   "SortOrder": sort_order}
        if approval_status is not None:
            request["ModelApprovalStatus"] = approval_status
        summaries = self._pages("list_model_packages", "ModelPackageSummaryList", **request)
        # The API sorts by creation time only; versions are what users name, so order by them exactly.
        return sorted(summaries, key=lambda s: s.get("ModelPackageVersion", 0), reverse=sort_order == "Descending")

    def _require_group(self, group: str) -> None:
        """RegistryError naming the known groups when `group` does not exist (listing it would just be empty)."""
        try:
            self.client.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError as error:
            if error.response["Error"].get("Code") not in _NOT_FOUND_CODES:
                raise
            known = [g["ModelPackageGroupName"] for g in self.list_model_package_groups()]
            raise RegistryError(f"no model package group {group!r} in {self.client.meta.region_name}; "
                                f"known: {', '.join(known) or '(none)'}") from None

    def describe_model_package(self, arn: str) -> dict:
        """The DescribeModelPackage response for `arn` (without boto3's ResponseMetadata)."""
        try:
            response = self.client.describe_model_package(ModelPackageName=arn)
        except ClientError as error:
            if error.response["Error"].get("Code") not in _NOT_FOUND_CODES:
                raise
            raise _refused(error, f"no model package {arn!r}") from None
        response.pop("ResponseMetadata", None)
        return response

    def update_model_package(self, arn: str, approval_status: str, approval_description: str | None = None) -> dict:
        """Set the approval status (and description, kept as is when None); returns {"ModelPackageArn": arn}."""
        _check_status(approval_status)
        request = {"ModelPackageArn": arn, "ModelApprovalStatus": approval_status}
        if approval_description is not None:
            request["ApprovalDescription"] = approval_description
        try:
            response = self.client.update_model_package(**request)
        except ClientError as error:
            if error.response["Error"].get("Code") not in _NOT_FOUND_CODES:
                raise
            raise _refused(error, f"cannot update model package {arn!r}") from None
        return {"ModelPackageArn": response["ModelPackageArn"]}

    def latest_approved(self, group: str) -> dict | None:
        """The DescribeModelPackage response of the group's highest Approved version, or None if none is."""
        approved = self.list_model_packages(group, approval_status="Approved", sort_order="Descending")
        return self.describe_model_package(approved[0]["ModelPackageArn"]) if approved else None

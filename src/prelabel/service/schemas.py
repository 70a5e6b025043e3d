"""Request and response bodies of the endpoint API (pydantic), shared by the server and the Python client."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# an absolute path or a URI; documented in the schema, enforced by the server with a message that says so
LOCATION_PATTERN = r"^(/|[A-Za-z][A-Za-z0-9+.-]*://)"
LOCATION_DOC: JsonDict = {"pattern": LOCATION_PATTERN}

InvocationStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
EndpointStatus = Literal["in_service", "failed", "deleting"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDocument(BaseModel):
    """Every 4xx/5xx answer: one line that names the item, what was expected and what was got."""

    error: str = Field(description="what was wrong, with the expected value and the options")
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="validation errors only: pydantic's list of {loc, msg, type}"
    )


def _min_le_max(schema: dict[str, Any]) -> None:
    """min_instances <= max_instances, said in JSON Schema (which cannot compare two fields) as: some k lies
    between them; max_instances defaults to 1, so a min_instances above 1 needs max_instances given."""
    schema["anyOf"] = [
        {
            "properties": {"min_instances": {"maximum": k}, "max_instances": {"minimum": k}},
            **({"required": ["max_instances"]} if k > 1 else {}),
        }
        for k in range(0, 65)
    ]


class ModelCreate(_Body):
    name: str = Field(pattern=NAME_PATTERN, description="the name endpoint configs refer to")
    model: str = Field(
        min_length=1,
        description="a zoo id (`ssd-mobilenet-v2-coco`), a private model reference, an existing endpoint URL "
        "(`http://host:port/endpoints/NAME`) or `python:module:factory` (a callable returning a Detector)",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="backend options, e.g. min_score, threads; `ontology`: the labels' class names, "
        '`{"class_map": "kitti", "classes": ["Car", "Pedestrian"]}` (a shipped class map: kitti, bdd, nuscenes, '
        "driving, ...; classes to keep after it), as `prelabel label --class-map/--classes`",
    )


class ModelInfo(ModelCreate):
    kind: Literal["zoo", "private", "endpoint", "python", "onnx"]
    created_at: float


class EndpointConfigCreate(_Body):
    name: str = Field(pattern=NAME_PATTERN)
    model_name: str = Field(pattern=NAME_PATTERN)
    max_concurrent_invocations_per_instance: int = Field(default=4, ge=1, le=64)
    output_path: str = Field(
        min_length=1,
        json_schema_extra=LOCATION_DOC,
        description="absolute folder or s3:// prefix under the service's storage roots; results land at "
        "<path>/<id>.json",
    )
    failure_path: str | None = Field(
        default=None,
        json_schema_extra=LOCATION_DOC,
        description="error documents land at <path>/<id>.error.json; default <output_path>/failures",
    )
    success_webhook: str | None = Field(default=None, description="URL POSTed a JSON notice for every success")
    error_webhook: str | None = Field(default=None, description="URL POSTed a JSON notice for every failure")


class EndpointConfigInfo(EndpointConfigCreate):
    failure_path: str
    created_at: float


class ScalingPolicy(_Body):
    """Instances follow the backlog (queued + running invocations) per instance, between min and max
    (min_instances <= max_instances)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_min_le_max)

    min_instances: int = Field(default=0, ge=0, le=64)
    max_instances: int = Field(default=1, ge=1, le=64)
    target_backlog_per_instance: float = Field(default=5.0, gt=0)
    scale_in_cooldown_s: float = Field(default=300.0, ge=0)
    scale_out_cooldown_s: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> ScalingPolicy:
        if self.min_instances > self.max_instances:
            raise ValueError(
                f"min_instances ({self.min_instances}) must not exceed max_instances ({self.max_instances})"
            )
        return self


class EndpointCreate(_Body):
    name: str = Field(pattern=NAME_PATTERN)
    config_name: str = Field(pattern=NAME_PATTERN)
    scaling: ScalingPolicy = Field(default_factory=ScalingPolicy)
    backend: Literal["local", "ray"] = Field(
        default="local", description="local: worker processes on this host; ray: a Ray Serve deployment"
    )


class EndpointInfo(EndpointCreate):
    model_name: str
    status: EndpointStatus
    failure_reason: str | None = None
    instances: int = Field(description="worker instances starting or serving")
    backlog: int = Field(description="invocations queued or running")
    created_at: float


class InvocationAccepted(BaseModel):
    inference_id: str
    output_location: str
    failure_location: str
    status: InvocationStatus


class NoticeInfo(BaseModel):
    """One webhook notice in the outbox: delivered at least once, or failed after its last attempt."""

    key: str = Field(description="idempotency key <inference_id>:<event>, also sent as the Idempotency-Key header")
    event: Literal["success", "error"]
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None = None
    delivered_at: float | None = None


class InvocationInfo(InvocationAccepted):
    endpoint: str
    input_location: str
    attempts: int
    created_at: float
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    error_type: str | None = Field(
        None, description="why it failed, as a type (InputNotFoundError, ModelError, OutputWriteError, ...)"
    )
    notices: list[NoticeInfo] = Field(default_factory=list, description="its webhook notices, if any")


class InvocationIds(_Body):
    ids: list[str] = Field(min_length=1, max_length=1000)


class ScalingEvent(BaseModel):
    endpoint: str
    at: float
    from_instances: int
    to_instances: int
    backlog: int
    action: Literal["scale_out", "scale_in", "hold"]
    reason: str

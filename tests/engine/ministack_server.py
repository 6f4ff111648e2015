"""ministack (pinned in .ci/run) as wsgen's end-to-end deploy tests run it, on 127.0.0.1.

ministack deploys CloudFormation stacks, creates AWS::ApiGatewayV2 WEBSOCKET APIs, serves
their data plane at ws://127.0.0.1:PORT/_aws/execute-api/{apiId}/{stage} with
@connections beside it, and runs provided.al2023 zips by executing their `bootstrap`.

Written for ministack 1.5.33 (MINISTACK_VERSION below); it refuses to start on another
version, since it reaches into ministack's modules.

Why this file exists: ministack's CloudFormation has no handlers for three resource types
that wsgen's templates use, and answers "Unrecognized resource types" for them:

- AWS::ApiGatewayV2::RouteResponse (a two-way route's response),
- AWS::ApiGatewayV2::Deployment (an explicit deployment, for stages without AutoDeploy),
- AWS::ApiGatewayV2::Model (a message type's JSON Schema, which a route's RequestModels
  name).

Its API Gateway v2 service already implements the first two (CreateRouteResponse,
CreateDeployment and the rest), so the handlers registered here call them. It has no
models at all (no CreateModel, and its routes do not validate messages): the Model handler
checks the properties CloudFormation requires (ApiId, Name, a JSON object Schema) and
keeps the model in this process, so a template with models deploys, updates and deletes;
message validation itself is tested against `wsgen dev`. wsgen's
templates stay exactly what AWS gets: the gap is filled in the engine, never in wsgen.
One more difference is handled below: ministack's `Ref` of a Route is "{apiId}/{routeId}"
where AWS's is the route id alone, so a RouteResponse's RouteId is cut at the slash.

And one defect is mended: a function that CloudFormation deletes keeps its warm Lambda
worker processes running until ministack's idle reaper gets to them (its own
DeleteFunction stops them at once), so the CloudFormation delete stops them the same way.

The process also:
- sets AWS_ENDPOINT_URL to itself, so the custom runtimes it starts reach it;
- binds 127.0.0.1 only, and keeps its temporary files (extracted function code, pid
  file) in a directory of its own, removed when it stops;
- leads its own process group, and when it stops (SIGTERM, SIGINT, or the test process
  that started it going away) it kills the group, so no Lambda worker outlives it.

usage: ministack_server.py PORT
"""
import itertools
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

MINISTACK_VERSION = "1.5.33"

port = sys.argv[1]
parent = os.getppid()
os.setpgrp()
scratch = tempfile.mkdtemp(prefix=f"wsgen-ministack-{port}-")
os.environ.update(
    {
        "GATEWAY_PORT": port,
        "BIND_HOST": "127.0.0.1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "TMPDIR": scratch,
        "STATE_DIR": os.path.join(scratch, "state"),
        "S3_DATA_DIR": os.path.join(scratch, "s3"),
        "PERSIST_STATE": "0",
        "S3_PERSIST": "0",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
)
tempfile.tempdir = scratch


def _stop(*_):
    """Removes the scratch directory, then kills the whole process group (this
    process, ministack's threads and every Lambda worker it started)."""
    shutil.rmtree(scratch, ignore_errors=True)
    os.killpg(0, signal.SIGKILL)


def _exit_with_parent():
    while os.getppid() == parent:
        time.sleep(0.5)
    _stop()


from importlib.metadata import version  # noqa: E402

if version("ministack") != MINISTACK_VERSION:
    sys.exit(
        f"tests/engine/ministack_server.py is written for ministack {MINISTACK_VERSION}, "
        f"but {version('ministack')} is installed: run `bash .ci/run`"
    )

import ministack.services.apigateway as apigw  # noqa: E402
from ministack.services.cloudformation import provisioners  # noqa: E402


def _result(response, what):
    status, _headers, body = response
    if status >= 400:
        raise ValueError(f"{what} failed: {body.decode('utf-8', 'replace')}")
    return json.loads(body) if body else {}


def _route_id(ref):
    """AWS's route id from ministack's Ref of a Route ("{apiId}/{routeId}")."""
    return str(ref).rpartition("/")[2]


def _route_response_body(props):
    return {
        "routeResponseKey": props.get("RouteResponseKey", "$default"),
        "modelSelectionExpression": props.get("ModelSelectionExpression"),
        "responseModels": props.get("ResponseModels", {}),
        "responseParameters": props.get("ResponseParameters", {}),
    }


def _route_response_create(logical_id, props, stack_name):
    api_id, route_id = props.get("ApiId", ""), _route_id(props.get("RouteId", ""))
    rr = _result(
        apigw._create_route_response(api_id, route_id, _route_response_body(props)),
        f"AWS::ApiGatewayV2::RouteResponse {logical_id} create",
    )
    return rr["routeResponseId"], {"RouteResponseId": rr["routeResponseId"]}


def _route_response_update(physical_id, old_props, new_props, stack_name, logical_id=None):
    """In place, unless the API or the route changed (then a new one replaces it)."""
    same = all(old_props.get(k) == new_props.get(k) for k in ("ApiId", "RouteId"))
    if not same:
        created = _route_response_create(logical_id or physical_id, new_props, stack_name)
        _route_response_delete(physical_id, old_props)
        return created
    _result(
        apigw._update_route_response(
            new_props.get("ApiId", ""),
            _route_id(new_props.get("RouteId", "")),
            physical_id,
            _route_response_body(new_props),
        ),
        f"AWS::ApiGatewayV2::RouteResponse {physical_id} update",
    )
    return physical_id, {"RouteResponseId": physical_id}


def _route_response_delete(physical_id, props):
    # The route (or the whole API) may be gone already: nothing left to delete.
    status, _, body = apigw._delete_route_response(
        props.get("ApiId", ""), _route_id(props.get("RouteId", "")), physical_id
    )
    if status >= 400 and status != 404:
        raise ValueError(f"AWS::ApiGatewayV2::RouteResponse {physical_id} delete failed: {body!r}")


def _deployment_create(logical_id, props, stack_name):
    api_id = props.get("ApiId", "")
    d = _result(
        apigw._create_deployment(api_id, {"description": props.get("Description", "")}),
        f"AWS::ApiGatewayV2::Deployment {logical_id} create",
    )
    stage = props.get("StageName")
    if stage:
        _result(
            apigw._update_stage(api_id, stage, {"deploymentId": d["deploymentId"]}),
            f"AWS::ApiGatewayV2::Deployment {logical_id}: point stage {stage} at it",
        )
    return d["deploymentId"], {"DeploymentId": d["deploymentId"]}


def _deployment_update(physical_id, old_props, new_props, stack_name, logical_id=None):
    """A deployment is a snapshot: a changed one is a new deployment."""
    created = _deployment_create(logical_id or physical_id, new_props, stack_name)
    _deployment_delete(physical_id, old_props)
    return created


def _deployment_delete(physical_id, props):
    status, _, body = apigw._delete_deployment(props.get("ApiId", ""), physical_id)
    if status >= 400 and status != 404:
        raise ValueError(f"AWS::ApiGatewayV2::Deployment {physical_id} delete failed: {body!r}")


_models = {}
_model_ids = itertools.count(1)


def _model_create(logical_id, props, stack_name):
    api_id, name, schema = props.get("ApiId"), props.get("Name"), props.get("Schema")
    if not api_id or not name or not isinstance(schema, dict):
        raise ValueError(
            f"AWS::ApiGatewayV2::Model {logical_id} create failed: ApiId, Name and a Schema "
            f"object are required (got {sorted(props)})"
        )
    for other in _models.values():
        if other["ApiId"] == api_id and other["Name"] == name:
            raise ValueError(f"AWS::ApiGatewayV2::Model {logical_id}: API {api_id} has a model {name} already")
    model_id = f"m{next(_model_ids):06d}"
    _models[model_id] = dict(props)
    return model_id, {"ModelId": model_id}


def _model_update(physical_id, old_props, new_props, stack_name, logical_id=None):
    """A new API or name is a new model (AWS replaces it); a new schema is in place."""
    if any(old_props.get(k) != new_props.get(k) for k in ("ApiId", "Name")):
        _models.pop(physical_id, None)
        return _model_create(logical_id or physical_id, new_props, stack_name)
    _models[physical_id] = dict(new_props)
    return physical_id, {"ModelId": physical_id}


def _model_delete(physical_id, props):
    _models.pop(physical_id, None)


for resource_type, handlers in {
    "AWS::ApiGatewayV2::RouteResponse": {
        "create": _route_response_create,
        "update": _route_response_update,
        "update_with_logical_id": True,
        "delete": _route_response_delete,
    },
    "AWS::ApiGatewayV2::Model": {
        "create": _model_create,
        "update": _model_update,
        "update_with_logical_id": True,
        "delete": _model_delete,
    },
    "AWS::ApiGatewayV2::Deployment": {
        "create": _deployment_create,
        "update": _deployment_update,
        "update_with_logical_id": True,
        "delete": _deployment_delete,
    },
}.items():
    if resource_type in provisioners._RESOURCE_HANDLERS:
        sys.exit(f"ministack {MINISTACK_VERSION} has a handler for {resource_type} now: drop ours")
    provisioners._RESOURCE_HANDLERS[resource_type] = handlers

import ministack.services.lambda_svc as lambda_svc  # noqa: E402
from ministack.core.lambda_runtime import invalidate_worker  # noqa: E402

_function_handlers = provisioners._RESOURCE_HANDLERS["AWS::Lambda::Function"]
_delete_function = _function_handlers["delete"]


def _delete_function_and_its_workers(physical_id, props):
    _delete_function(physical_id, props)
    invalidate_worker(physical_id, account=lambda_svc.get_account_id(), region=lambda_svc.get_region())


_function_handlers["delete"] = _delete_function_and_its_workers

threading.Thread(target=_exit_with_parent, daemon=True).start()

from ministack.app import main  # noqa: E402

sys.argv = [sys.argv[0]]
try:
    main()
finally:
    _stop()

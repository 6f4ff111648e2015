"""One AWS API call to a local engine through botocore (which ministack's venv has),
for the tests' checks of services wsgen has no SDK crate for (IAM, API Gateway v2):
the JSON result on stdout, or {"Error": {"Code": ..., "Message": ...}} for a service
error.

usage: aws_call.py ENDPOINT REGION SERVICE OPERATION PARAMS_JSON
  e.g. aws_call.py http://127.0.0.1:4566 eu-west-1 iam get_role '{"RoleName": "r"}'
"""
import json
import sys

import botocore.session
from botocore.exceptions import ClientError

endpoint, region, service, operation, params = sys.argv[1:6]
client = botocore.session.get_session().create_client(
    service,
    region_name=region,
    endpoint_url=endpoint,
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
try:
    result = getattr(client, operation)(**json.loads(params))
    result.pop("ResponseMetadata", None)
except ClientError as e:
    result = {"Error": e.response["Error"]}
print(json.dumps(result, default=str))

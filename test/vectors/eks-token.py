"""Computes known-answer vectors for the EKS token with awscli's own generator.

The token `aws eks get-token` prints is a presigned STS GetCallerIdentity URL; its signature
depends only on the credentials, region, cluster and time. This script fixes the time and
the credentials and runs awscli's TokenGenerator, so test/adapters/eks.test.ts can compare
lab-reconciler's tokens with awscli's byte for byte.

Regenerate with:  python3 test/vectors/eks-token.py > test/vectors/eks-token.json
"""
import datetime
import json

import botocore.auth
import botocore.session
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator

CASES = [
    {"region": "us-east-1", "cluster": "lab-prod", "time": "2026-11-26T12:00:00Z",
     "accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
    {"region": "eu-west-1", "cluster": "labs-eu", "time": "2026-02-03T04:05:06Z",
     "accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "secret/with+chars=",
     "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="},
]


def token_for(case):
    fixed = datetime.datetime.strptime(case["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    botocore.auth.get_current_datetime = lambda *args, **kwargs: fixed
    session = botocore.session.Session()
    session.set_credentials(case["accessKeyId"], case["secretAccessKey"], case.get("sessionToken"))
    session.set_config_variable("sts_regional_endpoints", "regional")
    sts = STSClientFactory(session).get_sts_client(region_name=case["region"])
    return TokenGenerator(sts).get_token(case["cluster"])


import awscli
print(json.dumps({"generator": "awscli " + awscli.__version__ + ", botocore " + botocore.__version__,
                  "vectors": [dict(case, token=token_for(case)) for case in CASES]}, indent=2))

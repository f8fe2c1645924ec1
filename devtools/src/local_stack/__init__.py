"""The local stack: moto as AWS, the Kubernetes emulator as EKS, a real PostgreSQL, on loopback.

Development tooling for trying and testing the product without an AWS account or a cluster. None
of it ships in the Lambda bundle.
"""

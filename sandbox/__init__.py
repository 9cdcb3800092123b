"""A local AWS stand-in for propie.rollback's tests, demo and benchmarks.

moto's server plus runtime extensions (Amplify, CloudFormation recovery APIs, DynamoDB
point-in-time fidelity, CloudWatch percentiles/metric math/alarm evaluation, AppSync data
sources) behind one endpoint. Start it with `python -m sandbox serve`.
"""

import os
import sys

from hypothesis import HealthCheck, settings

# The references live beside the tests; put this folder (not the repository
# root, which would shadow the installed softneuro_ep) on the import path.
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "ci", max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.register_profile(
    "deep", max_examples=400, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# transformers' own test files, laid out under vendor/ for harness.py, are not part of this
# suite: harness.py runs them in subprocesses of their own (test_upstream.py).
collect_ignore = ["vendor", "shims", "anyres_hf_upstream_plugin.py", "harness.py"]

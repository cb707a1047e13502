"""The MLOps loop of `mlops local run`: data, pipeline, approval, serving, monitoring, alarms, report."""

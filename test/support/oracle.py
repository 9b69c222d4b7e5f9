"""MLflow's own Python SDK, driven over JSON lines on stdin/stdout: the oracle for interop tests.

Each request is one JSON object {"op": ..., ...}; each answer one line {"ok": true, "result": ...}
or {"ok": false, "error_code": ..., "message": ...}. One process serves a whole test file, so the
SDK's import cost is paid once.
"""
import json
import os
import sys
import urllib.parse
import urllib.request

import mlflow
import mlflow.genai
from mlflow import MlflowClient
from mlflow.entities.model_registry import PromptVersion
from mlflow.exceptions import MlflowException


def rest_get(path, **params):
    url = f"{os.environ['MLFLOW_TRACKING_URI']}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def describe(pv):
    return {
        "name": pv.name,
        "version": int(pv.version),
        "template": pv.template,
        "variables": sorted(pv.variables),
        "tags": pv.tags,
        "aliases": sorted(pv.aliases or []),
        "commit_message": pv.commit_message or None,
        "model_config": pv.model_config,
        "response_format": pv.response_format,
        "is_text": pv.is_text_prompt,
    }


def format_result(pv, values, partial):
    out = pv.format(allow_partial=partial, **values)
    return out.template if isinstance(out, PromptVersion) else out


def handle(req):
    op = req["op"]
    if op == "load":
        return describe(mlflow.genai.load_prompt(req["uri"]))
    if op == "format":
        return format_result(mlflow.genai.load_prompt(req["uri"]), req.get("values", {}), req.get("partial", False))
    if op == "register":
        pv = mlflow.genai.register_prompt(
            name=req["name"],
            template=req["template"],
            commit_message=req.get("commit_message"),
            tags=req.get("tags"),
            model_config=req.get("model_config"),
            response_format=req.get("response_format"),
        )
        return int(pv.version)
    if op == "set_alias":
        mlflow.genai.set_prompt_alias(req["name"], alias=req["alias"], version=req["version"])
        return None
    if op == "raw_version":
        # The SDK's MlflowClient refuses to read prompts as model versions; read what the server
        # stores straight from its REST API.
        mv = rest_get("model-versions/get", name=req["name"], version=str(req["version"]))["model_version"]
        tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
        return {"tags": tags, "description": mv.get("description"), "source": mv.get("source")}
    if op == "search_prompts":
        return [p.name for p in mlflow.genai.search_prompts(filter_string=req.get("filter"))]
    if op == "local_variables":
        return sorted(PromptVersion("oracle", 1, req["template"]).variables)
    if op == "local_format":
        pv = PromptVersion("oracle", 1, req["template"])
        return format_result(pv, req.get("values", {}), req.get("partial", False))
    if op == "dumps":
        return json.dumps(req["value"])
    if op == "start_trace":
        if req.get("experiment_name"):
            mlflow.set_experiment(req["experiment_name"])
        try:
            with mlflow.start_span(name=req.get("name", "oracle")) as span:
                span.set_inputs({"q": "hello"})
        finally:
            if req.get("experiment_name"):
                mlflow.set_experiment(experiment_id="0")
        trace_id = span.trace_id
        mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None
        MlflowClient().get_trace(trace_id)
        return trace_id
    if op == "traces_for_prompt":
        traces = mlflow.search_traces(
            locations=[req.get("experiment_id", "0")],
            filter_string=f"prompt = '{req['name']}/{req['version']}'",
            return_type="list",
        )
        return sorted(t.info.trace_id for t in traces)
    if op == "traces_with_tag":
        traces = mlflow.search_traces(
            locations=[req.get("experiment_id", "0")],
            filter_string=f"tags.`{req['key']}` = '{req['value']}'",
            return_type="list",
        )
        return sorted(t.info.trace_id for t in traces)
    if op == "arm_summary":
        # An experiment's arms as MLflow's SDK reads them: traces, errors and up-votes per arm.
        traces = mlflow.search_traces(
            locations=[req.get("experiment_id", "0")],
            filter_string=f"tags.`{req['experiment_key']}` = '{req['experiment_value']}'",
            return_type="list",
        )
        arms = {}
        for t in traces:
            arm = arms.setdefault(t.info.tags.get(req["arm_key"], ""), {"traces": 0, "errors": 0, "up": 0, "judged": 0})
            arm["traces"] += 1
            arm["errors"] += 1 if str(t.info.state) in ("ERROR", "TraceState.ERROR") else 0
            votes = [a for a in t.info.assessments if a.name == "user_feedback" and a.feedback is not None]
            if votes:
                arm["judged"] += 1
                arm["up"] += 1 if votes[-1].feedback.value is True else 0
        return arms
    if op == "feedback_of":
        trace = mlflow.get_trace(req["trace_id"])
        return [
            {
                "name": a.name,
                "value": a.feedback.value if a.feedback else None,
                "rationale": a.rationale,
                "source_type": a.source.source_type,
                "source_id": a.source.source_id,
            }
            for a in trace.info.assessments
        ]
    if op == "log_feedback":
        from mlflow.entities import AssessmentSource
        a = mlflow.log_feedback(
            trace_id=req["trace_id"],
            name=req.get("name", "user_feedback"),
            value=req["value"],
            rationale=req.get("rationale"),
            source=AssessmentSource(source_type="HUMAN", source_id=req["source_id"]),
        )
        return a.assessment_id
    if op == "get_trace":
        trace = mlflow.get_trace(req["trace_id"])
        if trace is None:
            return None
        info = trace.info
        return {
            "state": str(info.state.value if hasattr(info.state, "value") else info.state),
            "experiment_id": info.experiment_id,
            "tags": dict(info.tags),
            "metadata": dict(info.trace_metadata),
            "token_usage": info.token_usage,
            "request_preview": info.request_preview,
            "response_preview": info.response_preview,
            "spans": [
                {
                    "name": s.name,
                    "type": s.span_type,
                    "parent": s.parent_id,
                    "status": str(s.status.status_code.value if hasattr(s.status.status_code, "value") else s.status.status_code),
                    "model": s.attributes.get("mlflow.llm.model"),
                    "token_usage": s.attributes.get("mlflow.chat.tokenUsage"),
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                }
                for s in trace.data.spans
            ],
        }
    if op == "prompt_tags":
        return dict(MlflowClient().get_prompt(req["name"]).tags)
    if op == "search_prompts_in_experiment":
        return sorted(
            p.name
            for p in mlflow.genai.search_prompts(filter_string=f"experiment_id = '{req['experiment_id']}'")
        )
    if op == "chat_agent_response":
        from mlflow.types.agent import ChatAgentResponse

        return ChatAgentResponse(**req["body"]).model_dump(exclude_none=True)
    raise ValueError(f"unknown op {op}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = {"ok": True, "result": handle(json.loads(line))}
        except MlflowException as e:
            answer = {"ok": False, "error_code": e.error_code, "message": e.message}
        except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
            answer = {"ok": False, "error_code": type(e).__name__, "message": str(e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

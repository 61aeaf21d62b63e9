"""A real KServe ModelServer on 127.0.0.1 serving the bundled SmolLM2 as the v2 model
``smollm2``: a BYTES tensor ``text`` in (the prompt), a BYTES tensor ``text`` out (the answer),
generation settings from the request's parameters.

Run as ``python kserve_smollm.py PORT MODEL.gguf`` (the tests start it as a subprocess:
kserve parses ``sys.argv`` and builds its app when imported, once per process).
"""

from __future__ import annotations

import sys

PORT, MODEL = int(sys.argv[1]), sys.argv[2]
sys.argv = sys.argv[:1]  # kserve.model_server parses sys.argv when it is imported

import kserve.model_server  # noqa: E402
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer  # noqa: E402
from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.rest.server import RESTServer  # noqa: E402
from llama_cpp import Llama  # noqa: E402


class LoopbackRESTServer(RESTServer):  # type: ignore[misc]
    """KServe binds 0.0.0.0; the tests keep to 127.0.0.1."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = "127.0.0.1"


kserve.model_server.RESTServer = LoopbackRESTServer  # ModelServer.start looks it up there


class SmolLM(Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.llm = Llama(path, n_ctx=2048, n_threads=1, verbose=False)
        self.ready = True

    async def predict(
        self, payload: InferRequest, headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:  # fmt: skip
        inputs = {tensor.name: tensor for tensor in payload.inputs}
        if "text" not in inputs or inputs["text"].datatype != "BYTES":
            raise InvalidInput("expected a BYTES input tensor named 'text'")
        options = payload.parameters or {}
        answers = []
        for prompt in inputs["text"].data:
            text = prompt.decode() if isinstance(prompt, bytes) else str(prompt)
            reply = self.llm.create_chat_completion(
                [{"role": "user", "content": text}],
                max_tokens=int(options.get("max_tokens", 64)),
                temperature=float(options.get("temperature", 0.0)),
                seed=int(options.get("seed", 0)),
            )
            answers.append(reply["choices"][0]["message"]["content"] or "")
        output = InferOutput(name="text", shape=[len(answers)], datatype="BYTES", data=answers)
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=[output]
        )


if __name__ == "__main__":
    ModelServer(http_port=PORT, enable_grpc=False, workers=1).start([SmolLM("smollm2", MODEL)])

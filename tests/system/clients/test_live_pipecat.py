"""Pipecat's `OpenAILiveLLMService` (OpenAI Live), unchanged, through the proxy.

Driven as `test_pipecat.py` drives the Realtime service: a two-processor pipeline (service ->
recorder) run by a `PipelineWorker`; the session starts on the first `LLMContextFrame`, audio
frames go in as a transport would push them, and the recorder keeps what the service pushes.
Pipecat parses every server event with its own models, so it is a second strict reader of
what the proxy sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.emulator import EmulatorSettings, pcm16_silence, pcm16_tone
from tests.support.clients import proxy_address, require_module
from tests.support.stack import KEY, SECRET, Stack

TIMEOUT = 20
HEARD = "What is the weather? get_weather"

pytestmark = pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning")


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    return EmulatorSettings(
        api_key=KEY, api_secret=SECRET, ping_interval=0.05, input_transcript=HEARD
    )


def recorder_class(processors: Any, frames_mod: Any) -> Any:
    """A FrameProcessor that records downstream frames and signals tool results."""

    class Recorder(processors.FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.frames: list[Any] = []
            self.tool_results = asyncio.Queue[Any]()
            self.texts = asyncio.Queue[str]()

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            self.frames.append(frame)
            if isinstance(frame, frames_mod.FunctionCallResultFrame):
                self.tool_results.put_nowait(frame)
            if isinstance(frame, frames_mod.TTSTextFrame):
                self.texts.put_nowait(frame.text)
            await self.push_frame(frame, direction)

    return Recorder


async def test_pipecat_live_spoken_turn_and_tool_call(stack: Stack) -> None:
    """A spoken question answered by a tool call through Responses delegation: the registered
    handler runs, its result goes back, and the answer is spoken."""
    live = require_module("pipecat.services.openai.live.llm")
    responses_mod = require_module("pipecat.services.openai.responses.llm")
    frames = require_module("pipecat.frames.frames")
    processors = require_module("pipecat.processors.frame_processor")
    pipeline_mod = require_module("pipecat.pipeline.pipeline")
    worker_mod = require_module("pipecat.pipeline.worker")
    runner_mod = require_module("pipecat.workers.runner")
    context_mod = require_module("pipecat.processors.aggregators.llm_context")
    schema_mod = require_module("pipecat.adapters.llm.schemas.function_schema")
    tools_mod = require_module("pipecat.adapters.llm.schemas.tools_schema")

    calls: list[dict[str, Any]] = []

    async def get_weather(params: Any) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback({"forecast": "sunny"})

    llm = live.OpenAILiveLLMService(
        api_key="sk-local-pipecat",
        base_url=f"ws://{proxy_address(stack)}/v1/live/sessions",
        settings=live.OpenAILiveLLMService.Settings(model="gpt-live-1.1", voice="marin"),
        delegation=live.OpenAILiveLLMService.ResponsesDelegation(
            settings=responses_mod.OpenAIResponsesLLMService.Settings(model="gpt-5.4-mini"),
        ),
    )
    llm.register_function("get_weather", get_weather)
    started: list[Any] = []
    ready = asyncio.Event()

    @llm.event_handler("on_session_started")
    async def on_started(_: Any, session: Any) -> None:
        started.append(session)
        ready.set()

    recorder = recorder_class(processors, frames)()
    worker = worker_mod.PipelineWorker(
        pipeline_mod.Pipeline([llm, recorder]),
        params=worker_mod.PipelineParams(audio_in_sample_rate=24000, audio_out_sample_rate=24000),
        idle_timeout_secs=None,
        enable_rtvi=False,
        enable_turn_tracking=False,
    )
    weather = schema_mod.FunctionSchema(
        name="get_weather",
        description="Weather for a city",
        properties={"city": {"type": "string"}},
        required=["city"],
    )
    context = context_mod.LLMContext(
        messages=[{"role": "system", "content": "You are a weather assistant."}],
        tools=tools_mod.ToolsSchema(standard_tools=[weather]),
    )
    runner = runner_mod.WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(runner.run())
        async with asyncio.timeout(TIMEOUT):
            await worker.queue_frame(frames.LLMContextFrame(context=context))
            await ready.wait()  # the service drops audio until session.started
            chunks = [pcm16_tone(100, offset_ms=i * 100) for i in range(6)]
            chunks += [pcm16_silence(100)] * 8
            for chunk in chunks:
                await worker.queue_frame(
                    frames.InputAudioRawFrame(audio=chunk, sample_rate=24000, num_channels=1)
                )
            result = await recorder.tool_results.get()
            spoken = ""
            while "sunny" not in spoken:
                spoken += await recorder.texts.get()
        await worker.cancel()
        await running

    assert started
    assert calls == [{"city": "test"}]
    assert result.function_name == "get_weather"
    assert "sunny" in spoken
    audio = b"".join(f.audio for f in recorder.frames if isinstance(f, frames.OutputAudioRawFrame))
    assert len(audio) >= 4800
    assert not [f for f in recorder.frames if isinstance(f, frames.ErrorFrame)]
    record = stack.only_session()
    assert [t["name"] for t in record.session_config["tools"]] == ["get_weather"]
    assert record.session_config["instructions"].startswith("You are a weather assistant.")
    assert record.session_config["audio"]["output"]["voice"] == "Sarah"

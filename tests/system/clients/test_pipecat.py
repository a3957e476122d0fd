"""Pipecat's `OpenAIRealtimeLLMService`, unchanged, through the proxy (no transport, no room).

The service is driven directly in a two-processor pipeline (service -> recorder) by a
`PipelineWorker`: audio frames go in like a transport would push them, and the recorder keeps
what the service pushes downstream (bot audio, transcript text, response end, tool results).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.emulator import pcm16_silence, pcm16_tone
from tests.support.clients import proxy_address, require_module
from tests.support.stack import Stack

TIMEOUT = 15

# third-party import-time warnings (pytest runs with filterwarnings=error)
pytestmark = pytest.mark.filterwarnings("ignore:'audioop' is deprecated:DeprecationWarning")


def recorder_class(processors: Any, frames_mod: Any) -> Any:
    """A FrameProcessor that records downstream frames and signals response ends."""

    class Recorder(processors.FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.frames: list[Any] = []
            self.response_ends = asyncio.Queue[None]()
            self.tool_results = asyncio.Queue[Any]()

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            self.frames.append(frame)
            if isinstance(frame, frames_mod.LLMFullResponseEndFrame):
                self.response_ends.put_nowait(None)
            if isinstance(frame, frames_mod.FunctionCallResultFrame):
                self.tool_results.put_nowait(frame)
            await self.push_frame(frame, direction)

    return Recorder


async def test_pipecat_spoken_turn_and_tool_call(stack: Stack) -> None:
    """Server-VAD spoken turn answered with bot audio; a context-driven tool call runs."""
    realtime = require_module("pipecat.services.openai.realtime.llm")
    events = require_module("pipecat.services.openai.realtime.events")
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

    llm = realtime.OpenAIRealtimeLLMService(
        api_key="sk-local-pipecat",
        base_url=f"ws://{proxy_address(stack)}/v1/realtime",
        settings=realtime.OpenAIRealtimeLLMService.Settings(
            model="gpt-realtime",
            session_properties=events.SessionProperties(
                audio=events.AudioConfiguration(
                    input=events.AudioInput(
                        turn_detection=events.TurnDetection(silence_duration_ms=300)
                    ),
                    output=events.AudioOutput(voice="marin"),
                )
            ),
        ),
    )
    llm.register_function("get_weather", get_weather)
    recorder = recorder_class(processors, frames)()
    worker = worker_mod.PipelineWorker(
        pipeline_mod.Pipeline([llm, recorder]),
        params=worker_mod.PipelineParams(audio_in_sample_rate=24000, audio_out_sample_rate=24000),
        idle_timeout_secs=None,
        enable_rtvi=False,
        enable_turn_tracking=False,
    )
    runner = runner_mod.WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    async with asyncio.TaskGroup() as tasks:
        running = tasks.create_task(runner.run())
        async with asyncio.timeout(TIMEOUT):
            # 1. speech then silence: the (emulated) server VAD ends the turn and answers
            chunks = [pcm16_tone(100, offset_ms=i * 100) for i in range(6)]
            chunks += [pcm16_silence(100)] * 6
            for chunk in chunks:
                await worker.queue_frame(
                    frames.InputAudioRawFrame(audio=chunk, sample_rate=24000, num_channels=1)
                )
            await recorder.response_ends.get()
            spoken = list(recorder.frames)
            # 2. a context naming the tool: the service runs the registered handler
            weather = schema_mod.FunctionSchema(
                name="get_weather",
                description="Weather for a city",
                properties={"city": {"type": "string"}},
                required=["city"],
            )
            context = context_mod.LLMContext(
                messages=[{"role": "user", "content": "What is the weather? get_weather"}],
                tools=tools_mod.ToolsSchema(standard_tools=[weather]),
            )
            await worker.queue_frame(frames.LLMContextFrame(context=context))
            result = await recorder.tool_results.get()
        await worker.cancel()
        await running

    audio = b"".join(f.audio for f in spoken if isinstance(f, frames.TTSAudioRawFrame))
    assert len(audio) >= 4800
    text = "".join(f.text for f in spoken if isinstance(f, frames.TTSTextFrame))
    assert "Hello from the emulator." in text
    assert not [f for f in recorder.frames if isinstance(f, frames.ErrorFrame)]
    assert calls == [{"city": "test"}]
    assert result.function_name == "get_weather"
    # the tool output went back up to Inworld as a function_call_output item
    record = stack.only_session()
    items = record.engine.conversation.items
    assert any(i.get("type") == "function_call_output" for i in items)
    assert record.session_config["audio"]["output"]["voice"] == "Sarah"

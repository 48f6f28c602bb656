"""Speech + summarisation demo (Gradio Space)."""
import os

import gradio as gr
import torch
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, pipeline

MODEL_ID = os.environ.get("MODEL_ID", "openai/whisper-small")
SUMMARIZERS = ["facebook/bart-large-cnn", "sshleifer/distilbart-cnn-12-6", "google/pegasus-xsum"]
device = 0 if torch.cuda.is_available() else -1
dtype = torch.float16 if torch.cuda.is_available() else torch.float32

processor = AutoProcessor.from_pretrained(MODEL_ID)  # expect: transformers.AutoProcessor.from_pretrained ids=openai/whisper-small
model = AutoModelForSpeechSeq2Seq.from_pretrained(MODEL_ID, torch_dtype=dtype, low_cpu_mem_usage=True)  # expect: transformers.AutoModelForSpeechSeq2Seq.from_pretrained ids=openai/whisper-small
asr = pipeline(
    "automatic-speech-recognition",
    model=model,
    tokenizer=processor.tokenizer,
    feature_extractor=processor.feature_extractor,
    device=device,
)
sentiment = pipeline("sentiment-analysis")  # expect: transformers.pipeline ids=distilbert/distilbert-base-uncased-finetuned-sst-2-english rev=714eb0f

_summarizers = {}


def summarize(audio, model_name):
    text = asr(audio)["text"]
    if model_name not in _summarizers:
        _summarizers[model_name] = pipeline("summarization", model=model_name, device=device)  # expect: transformers.pipeline ids=facebook/bart-large-cnn,sshleifer/distilbart-cnn-12-6,google/pegasus-xsum
    summary = _summarizers[model_name](text, max_length=80)[0]["summary_text"]
    return text, summary, sentiment(summary)[0]["label"]


demo = gr.Interface(
    fn=summarize,
    inputs=[gr.Audio(type="filepath"), gr.Dropdown(SUMMARIZERS, value=SUMMARIZERS[0], label="Summarizer")],
    outputs=["text", "text", "label"],
    title="Listen and summarise",
)

with gr.Blocks() as qa_demo:
    question = gr.Textbox(label="Question")
    model_choice = gr.Radio(["google/flan-t5-small", "google/flan-t5-base"], value="google/flan-t5-small", label="Model")
    answer = gr.Textbox(label="Answer")
    ask = gr.Button("Ask")

    def answer_question(q, model_name):
        qa = pipeline("text2text-generation", model=model_name)  # expect: transformers.pipeline ids=google/flan-t5-small,google/flan-t5-base
        return qa(q)[0]["generated_text"]

    ask.click(answer_question, inputs=[question, model_choice], outputs=answer)

if __name__ == "__main__":
    gr.TabbedInterface([demo, qa_demo], ["Summarise", "Ask"]).launch()

"""Spoken question answering: an ASR model feeds a text encoder (complementary models)."""
import librosa
import torch
from transformers import (
    BertModel,
    BertTokenizer,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    pipeline,
)

ASR_MODEL = "facebook/wav2vec2-base-960h"
TEXT_MODEL = "google-bert/bert-base-uncased"
WHISPER = "openai/whisper-tiny"
WHISPER_COMMIT = "169d4a4341b33bc18d8881c4b69c2e104e1cc0af"


class SpeechTextPipeline:
    def __init__(self, use_whisper=False, device="cpu"):
        self.use_whisper = use_whisper
        if use_whisper:
            self.processor = WhisperProcessor.from_pretrained(WHISPER, revision=WHISPER_COMMIT)  # expect: transformers.WhisperProcessor.from_pretrained ids=openai/whisper-tiny rev=169d4a4341b33bc18d8881c4b69c2e104e1cc0af
            self.asr = WhisperForConditionalGeneration.from_pretrained(WHISPER, revision=WHISPER_COMMIT)  # expect: transformers.WhisperForConditionalGeneration.from_pretrained ids=openai/whisper-tiny rev=169d4a4341b33bc18d8881c4b69c2e104e1cc0af
        else:
            self.processor = Wav2Vec2Processor.from_pretrained(ASR_MODEL)  # expect: transformers.Wav2Vec2Processor.from_pretrained ids=facebook/wav2vec2-base-960h
            self.asr = Wav2Vec2ForCTC.from_pretrained(ASR_MODEL)  # expect: transformers.Wav2Vec2ForCTC.from_pretrained ids=facebook/wav2vec2-base-960h
        self.tokenizer = BertTokenizer.from_pretrained(TEXT_MODEL)  # expect: transformers.BertTokenizer.from_pretrained ids=google-bert/bert-base-uncased
        self.text_encoder = BertModel.from_pretrained(TEXT_MODEL, output_hidden_states=True).to(device)  # expect: transformers.BertModel.from_pretrained ids=google-bert/bert-base-uncased

    @torch.no_grad()
    def transcribe(self, path):
        speech, _ = librosa.load(path, sr=16000)
        inputs = self.processor(speech, sampling_rate=16000, return_tensors="pt")
        if self.use_whisper:
            ids = self.asr.generate(inputs.input_features)
            return self.processor.batch_decode(ids, skip_special_tokens=True)[0]
        logits = self.asr(inputs.input_values).logits
        return self.processor.batch_decode(torch.argmax(logits, dim=-1))[0]

    @torch.no_grad()
    def embed(self, path):
        text = self.transcribe(path)
        batch = self.tokenizer(text, return_tensors="pt")
        return self.text_encoder(**batch).last_hidden_state.mean(dim=1)


def zero_shot_audio():
    return pipeline(task="zero-shot-audio-classification", model="laion/clap-htsat-unfused")  # expect: transformers.pipeline ids=laion/clap-htsat-unfused


def long_form_asr():
    return pipeline("automatic-speech-recognition", "openai/whisper-base", chunk_length_s=30)  # expect: transformers.pipeline ids=openai/whisper-base

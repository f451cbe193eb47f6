"""Tiny, randomly initialised captioning models in the official Hugging Face layouts, for the
``caption`` analyzer's tests.

Each is written under exactly the file names its lock entry pins, so that ``ModelStore(root)``
with the default lock finds it and the analyzer loads it through its production path:

- ``caption`` (Salesforce/blip2-opt-2.7b): a ``Blip2ForConditionalGeneration`` saved in two
  safetensors shards with their index (``model-0000N-of-00002.safetensors``, as the real
  repository), ``config.json`` + ``generation_config.json``; the processor split the way that
  repository has it: the ``BlipImageProcessor`` in ``preprocessor_config.json``,
  ``num_query_tokens`` in ``processor_config.json``, the tokenizer in ``tokenizer.json`` /
  ``tokenizer_config.json`` / ``special_tokens_map.json``.
- ``caption_vlm`` (HuggingFaceTB/SmolVLM-256M-Instruct): an ``Idefics3ForConditionalGeneration``
  in one ``model.safetensors`` and the ``Idefics3Processor`` laid out the same way, with a chat
  template of SmolVLM's shape (``User:<image>...<end_of_utterance>\\nAssistant:``).

Both tokenizers are byte-level BPEs trained here on a sentence (the ``tokenizers`` library, no
download): OPT's and SmolLM2's vocabularies are not needed to check structure, only a working
tokenizer with the special tokens each processor relies on. Output is random text: tests check
structure and behaviour, never content. ``blip2_config("real")`` and ``smolvlm_config("real")``
are the published architectures, for size measurements (built on the meta device).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

CORPUS = ("User: Assistant: a photo of a person dancing in a kitchen with a dog on the street "
          "at night, city lights and a red car near the beach")

SMOLVLM_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<fake_token_around_image>",
                   "<image>", "<end_of_utterance>", "<global-img>",
                   *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7))]
# SmolVLM's chat template, in its shape: images first, then the text, then the turn's end.
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")


def byte_bpe(special: list[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer (``tokenizers.Tokenizer``) trained on ``CORPUS``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([CORPUS] * 10, trainer)
    return tokenizer


def _write_tokenizer(tokenizer: Any, folder: Path) -> None:
    """``tokenizer.json`` + ``tokenizer_config.json`` from ``save_pretrained``, and the
    ``special_tokens_map.json`` the published repositories carry (transformers 5 no longer
    writes it; its loader still reads it)."""
    tokenizer.save_pretrained(folder)
    # transformers 5 writes a chat template to chat_template.jinja; the pinned repositories
    # (and the lock) keep it in tokenizer_config.json, which transformers still reads.
    template = folder / "chat_template.jinja"
    if template.exists():
        settings = json.loads((folder / "tokenizer_config.json").read_text())
        settings["chat_template"] = template.read_text()
        (folder / "tokenizer_config.json").write_text(json.dumps(settings, indent=2))
        template.unlink()
    special = {name: str(getattr(tokenizer, name)) for name in
               ("bos_token", "eos_token", "unk_token", "pad_token")
               if getattr(tokenizer, name, None) is not None}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def _split_processor(processor: Any, folder: Path, extra: dict[str, Any]) -> None:
    """The processor as the pinned repositories lay it out: its image processor in
    ``preprocessor_config.json``, its own settings in ``processor_config.json``, the tokenizer
    in its files (transformers 5 would put everything in ``processor_config.json``)."""
    processor.image_processor.save_pretrained(folder)
    (folder / "processor_config.json").write_text(json.dumps(
        {"processor_class": type(processor).__name__, **extra}, indent=2))
    _write_tokenizer(processor.tokenizer, folder)


# --- BLIP-2 ------------------------------------------------------------------------------------


def blip2_config(size: str = "tiny", vocab: int = 0, special: dict[str, int] | None = None
                 ) -> Any:
    from transformers import Blip2Config

    if size == "real":  # Salesforce/blip2-opt-2.7b: EVA ViT-g/14, Q-Former, OPT-2.7b
        return Blip2Config(
            vision_config={},  # the defaults are ViT-g/14 at 224 px (1408 wide, 39 layers)
            qformer_config={},  # BERT-base sized, cross-attention every 2nd layer
            text_config={"model_type": "opt", "vocab_size": 50304, "hidden_size": 2560,
                         "num_hidden_layers": 32, "ffn_dim": 10240, "num_attention_heads": 32,
                         "word_embed_proj_dim": 2560, "max_position_embeddings": 2048},
            num_query_tokens=32, image_token_index=50265)
    special = special or {}
    return Blip2Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        qformer_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "intermediate_size": 64, "encoder_hidden_size": 32, "vocab_size": vocab},
        text_config={"model_type": "opt", "vocab_size": vocab, "hidden_size": 32,
                     "num_hidden_layers": 1, "ffn_dim": 64, "num_attention_heads": 2,
                     "word_embed_proj_dim": 32, "max_position_embeddings": 128,
                     **{k: v for k, v in special.items() if k != "image_token_id"}},
        num_query_tokens=4, image_token_index=special.get("image_token_id", 0))


def write_tiny_blip2(folder: Path, seed: int = 0) -> None:
    import torch
    from tokenizers import processors
    from transformers import (
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessor,
        GPT2TokenizerFast,
    )

    bpe = byte_bpe(["<pad>", "</s>", "<unk>"])
    # OPT starts every text with </s> (its BOS); the real tokenizer.json does the same.
    bpe.post_processor = processors.TemplateProcessing(
        single="</s> $A", special_tokens=[("</s>", bpe.token_to_id("</s>"))])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, bos_token="</s>", eos_token="</s>",
                                  unk_token="<unk>", pad_token="<pad>")
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    processor = Blip2Processor(image_processor, tokenizer, num_query_tokens=4)  # adds <image>
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    config = blip2_config(vocab=len(tokenizer),
                          special={**ids, "image_token_id": tokenizer.convert_tokens_to_ids(
                              "<image>")})
    torch.manual_seed(seed)
    model = Blip2ForConditionalGeneration(config)
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    # Two shards, as the real repository holds: a cap just over half the weights.
    model.save_pretrained(folder, max_shard_size=int(total * 0.6))
    _split_processor(processor, folder, {"num_query_tokens": 4})


# --- SmolVLM (Idefics3) ------------------------------------------------------------------------


def smolvlm_config(size: str = "tiny", vocab: int = 0, special: dict[str, int] | None = None
                   ) -> Any:
    from transformers import Idefics3Config

    if size == "real":  # HuggingFaceTB/SmolVLM-256M-Instruct (its config.json)
        return Idefics3Config(
            vision_config={"hidden_size": 768, "intermediate_size": 3072,
                           "num_hidden_layers": 12, "num_attention_heads": 12,
                           "image_size": 512, "patch_size": 16},
            text_config={"model_type": "llama", "vocab_size": 49280, "hidden_size": 576,
                         "intermediate_size": 1536, "num_hidden_layers": 30,
                         "num_attention_heads": 9, "num_key_value_heads": 3,
                         "max_position_embeddings": 8192, "tie_word_embeddings": False},
            scale_factor=4, image_token_id=49190)
    special = special or {}
    return Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "vocab_size": vocab, "hidden_size": 32,
                     "num_hidden_layers": 1, "intermediate_size": 64, "num_attention_heads": 2,
                     "num_key_value_heads": 1, "max_position_embeddings": 1024,
                     **{k: v for k, v in special.items() if k != "image_token_id"}},
        scale_factor=2, image_token_id=special.get("image_token_id", 0),
        **{"pad_token_id": special.get("pad_token_id")})


def write_tiny_smolvlm(folder: Path, seed: int = 0) -> None:
    import torch
    from transformers import (
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=byte_bpe(SMOLVLM_SPECIAL), bos_token="<|im_start|>",
        eos_token="<end_of_utterance>", pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = SMOLVLM_TEMPLATE
    # 32 px tiles of 8 px patches, pixel-shuffled by 2: 4 image tokens per frame.
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 64},
                                             max_image_size={"longest_edge": 32})
    processor = Idefics3Processor(image_processor, tokenizer, image_seq_len=4)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id,
           "image_token_id": tokenizer.convert_tokens_to_ids("<image>")}
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(smolvlm_config(vocab=len(tokenizer), special=ids))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # transformers may add files the lock lacks
        model.save_pretrained(tmp)
        for name in ("config.json", "generation_config.json", "model.safetensors"):
            (folder / name).write_bytes((Path(tmp) / name).read_bytes())
    _split_processor(processor, folder, {"image_seq_len": 4})

"""Download tables of loaders whose packages ptmlock cannot import to regenerate them (issue 26).

- `CLIP_MODELS`: OpenAI CLIP's `clip/clip.py` `_MODELS` (github.com/openai/CLIP, identical in the PyPI
  package clip-anytorch 2.6.0): `clip.load(name)` downloads the URL for `name`.
- `GEFFNET_URLS`: geffnet 1.0.2 `gen_efficientnet.py` and `mobilenetv3.py` `model_urls` (entries with
  weights): `geffnet.create_model(name, pretrained=True)` downloads the URL for `name`.
- `FLASHRANK_REPO`: flashrank 0.2.10 `Config.model_url`, one Hub repo holding every model as a zip.
"""
from __future__ import annotations

_CLIP = "https://openaipublic.azureedge.net/clip/models/"
CLIP_MODELS: dict[str, str] = {
    "RN50":
        _CLIP + "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "RN101":
        _CLIP + "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "RN50x4":
        _CLIP + "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
    "RN50x16":
        _CLIP + "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
    "RN50x64":
        _CLIP + "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
    "ViT-B/32":
        _CLIP + "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16":
        _CLIP + "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14":
        _CLIP + "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px":
        _CLIP + "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
}

_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/"
GEFFNET_URLS: dict[str, str] = {
    "mnasnet_100":
        _TIMM + "v0.1-weights/mnasnet_b1-74cb7081.pth",
    "semnasnet_100":
        _TIMM + "v0.1-weights/mnasnet_a1-d9418771.pth",
    "mobilenetv2_100":
        _TIMM + "v0.1-weights/mobilenetv2_100_ra-b33bc2c4.pth",
    "mobilenetv2_110d":
        _TIMM + "v0.1-weights/mobilenetv2_110d_ra-77090ade.pth",
    "mobilenetv2_120d":
        _TIMM + "v0.1-weights/mobilenetv2_120d_ra-5987e2ed.pth",
    "mobilenetv2_140":
        _TIMM + "v0.1-weights/mobilenetv2_140_ra-21a4e913.pth",
    "fbnetc_100":
        _TIMM + "v0.1-weights/fbnetc_100-c345b898.pth",
    "spnasnet_100":
        _TIMM + "v0.1-weights/spnasnet_100-048bc3f4.pth",
    "efficientnet_b0":
        _TIMM + "v0.1-weights/efficientnet_b0_ra-3dd342df.pth",
    "efficientnet_b1":
        _TIMM + "v0.1-weights/efficientnet_b1-533bc792.pth",
    "efficientnet_b2":
        _TIMM + "v0.1-weights/efficientnet_b2_ra-bcdf34b7.pth",
    "efficientnet_b3":
        _TIMM + "v0.1-weights/efficientnet_b3_ra2-cf984f9c.pth",
    "efficientnet_es":
        _TIMM + "v0.1-weights/efficientnet_es_ra-f111e99c.pth",
    "efficientnet_lite0":
        _TIMM + "v0.1-weights/efficientnet_lite0_ra-37913777.pth",
    "tf_efficientnet_b0":
        _TIMM + "v0.1-weights/tf_efficientnet_b0_aa-827b6e33.pth",
    "tf_efficientnet_b1":
        _TIMM + "v0.1-weights/tf_efficientnet_b1_aa-ea7a6ee0.pth",
    "tf_efficientnet_b2":
        _TIMM + "v0.1-weights/tf_efficientnet_b2_aa-60c94f97.pth",
    "tf_efficientnet_b3":
        _TIMM + "v0.1-weights/tf_efficientnet_b3_aa-84b4657e.pth",
    "tf_efficientnet_b4":
        _TIMM + "v0.1-weights/tf_efficientnet_b4_aa-818f208c.pth",
    "tf_efficientnet_b5":
        _TIMM + "v0.1-weights/tf_efficientnet_b5_ra-9a3e5369.pth",
    "tf_efficientnet_b6":
        _TIMM + "v0.1-weights/tf_efficientnet_b6_aa-80ba17e4.pth",
    "tf_efficientnet_b7":
        _TIMM + "v0.1-weights/tf_efficientnet_b7_ra-6c08e654.pth",
    "tf_efficientnet_b8":
        _TIMM + "v0.1-weights/tf_efficientnet_b8_ra-572d5dd9.pth",
    "tf_efficientnet_b0_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b0_ap-f262efe1.pth",
    "tf_efficientnet_b1_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b1_ap-44ef0a3d.pth",
    "tf_efficientnet_b2_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b2_ap-2f8e7636.pth",
    "tf_efficientnet_b3_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b3_ap-aad25bdd.pth",
    "tf_efficientnet_b4_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b4_ap-dedb23e6.pth",
    "tf_efficientnet_b5_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b5_ap-9e82fae8.pth",
    "tf_efficientnet_b6_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b6_ap-4ffb161f.pth",
    "tf_efficientnet_b7_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b7_ap-ddb28fec.pth",
    "tf_efficientnet_b8_ap":
        _TIMM + "v0.1-weights/tf_efficientnet_b8_ap-00e169fa.pth",
    "tf_efficientnet_b0_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b0_ns-c0e6a31c.pth",
    "tf_efficientnet_b1_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b1_ns-99dd0c41.pth",
    "tf_efficientnet_b2_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b2_ns-00306e48.pth",
    "tf_efficientnet_b3_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b3_ns-9d44bf68.pth",
    "tf_efficientnet_b4_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b4_ns-d6313a46.pth",
    "tf_efficientnet_b5_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b5_ns-6f26d0cf.pth",
    "tf_efficientnet_b6_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b6_ns-51548356.pth",
    "tf_efficientnet_b7_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_b7_ns-1dbc32de.pth",
    "tf_efficientnet_l2_ns_475":
        _TIMM + "v0.1-weights/tf_efficientnet_l2_ns_475-bebbd00a.pth",
    "tf_efficientnet_l2_ns":
        _TIMM + "v0.1-weights/tf_efficientnet_l2_ns-df73bb44.pth",
    "tf_efficientnet_es":
        _TIMM + "v0.1-weights/tf_efficientnet_es-ca1afbfe.pth",
    "tf_efficientnet_em":
        _TIMM + "v0.1-weights/tf_efficientnet_em-e78cfe58.pth",
    "tf_efficientnet_el":
        _TIMM + "v0.1-weights/tf_efficientnet_el-5143854e.pth",
    "tf_efficientnet_cc_b0_4e":
        _TIMM + "v0.1-weights/tf_efficientnet_cc_b0_4e-4362b6b2.pth",
    "tf_efficientnet_cc_b0_8e":
        _TIMM + "v0.1-weights/tf_efficientnet_cc_b0_8e-66184a25.pth",
    "tf_efficientnet_cc_b1_8e":
        _TIMM + "v0.1-weights/tf_efficientnet_cc_b1_8e-f7c79ae1.pth",
    "tf_efficientnet_lite0":
        _TIMM + "v0.1-weights/tf_efficientnet_lite0-0aa007d2.pth",
    "tf_efficientnet_lite1":
        _TIMM + "v0.1-weights/tf_efficientnet_lite1-bde8b488.pth",
    "tf_efficientnet_lite2":
        _TIMM + "v0.1-weights/tf_efficientnet_lite2-dcccb7df.pth",
    "tf_efficientnet_lite3":
        _TIMM + "v0.1-weights/tf_efficientnet_lite3-b733e338.pth",
    "tf_efficientnet_lite4":
        _TIMM + "v0.1-weights/tf_efficientnet_lite4-741542c3.pth",
    "mixnet_s":
        _TIMM + "v0.1-weights/mixnet_s-a907afbc.pth",
    "mixnet_m":
        _TIMM + "v0.1-weights/mixnet_m-4647fc68.pth",
    "mixnet_l":
        _TIMM + "v0.1-weights/mixnet_l-5a9a2ed8.pth",
    "mixnet_xl":
        _TIMM + "v0.1-weights/mixnet_xl_ra-aac3c00c.pth",
    "tf_mixnet_s":
        _TIMM + "v0.1-weights/tf_mixnet_s-89d3354b.pth",
    "tf_mixnet_m":
        _TIMM + "v0.1-weights/tf_mixnet_m-0f4d8805.pth",
    "tf_mixnet_l":
        _TIMM + "v0.1-weights/tf_mixnet_l-6c92e0c8.pth",
    "mobilenetv3_rw":
        _TIMM + "v0.1-weights/mobilenetv3_100-35495452.pth",
    "mobilenetv3_large_100":
        _TIMM + "v0.1-weights/mobilenetv3_large_100_ra-f55367f5.pth",
    "tf_mobilenetv3_large_075":
        _TIMM + "v0.1-weights/tf_mobilenetv3_large_075-150ee8b0.pth",
    "tf_mobilenetv3_large_100":
        _TIMM + "v0.1-weights/tf_mobilenetv3_large_100-427764d5.pth",
    "tf_mobilenetv3_large_minimal_100":
        _TIMM + "v0.1-weights/tf_mobilenetv3_large_minimal_100-8596ae28.pth",
    "tf_mobilenetv3_small_075":
        _TIMM + "v0.1-weights/tf_mobilenetv3_small_075-da427f52.pth",
    "tf_mobilenetv3_small_100":
        _TIMM + "v0.1-weights/tf_mobilenetv3_small_100-37f49e2b.pth",
    "tf_mobilenetv3_small_minimal_100":
        _TIMM + "v0.1-weights/tf_mobilenetv3_small_minimal_100-922a7843.pth",
}

FLASHRANK_REPO = "prithivida/flashrank"

"""One backend per hub (Hugging Face, torch.hub git remotes, plain URLs): resolve a ref to a
commit and its files, say where a ref points now, and fetch bytes; `answers` validates every
Hugging Face answer (the hostile-input boundary), `registry` maps a hub name to its backend.
May import the base layer (_net for every network rule) and the data layer; never install/ or cli/."""

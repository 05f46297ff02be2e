"""Framework adapters over the library (optional extras; docs/own-code.md):

  lightning.py     SpotShieldCallback for PyTorch Lightning   (pip install 'spotshield[lightning]')
  huggingface.py   SpotShieldCallback for transformers.Trainer (pip install 'spotshield[huggingface]')
Each keeps the framework's own checkpoint format (a Lightning .ckpt, a Hugging Face checkpoint
folder) and commits it through the store's marker and checksums; everything else (resume, the
strategy, the emergency checkpoint on a notice, events, /healthz, DONE) is spotshield.library's.
"""

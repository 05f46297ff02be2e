"""The training state the benchmarks save: a model plus SGD momentum, on a device.

full: ResNet-50 with a 100-class head (CIFAR-100), 23.7 M parameters -> ~95 MB of fp32
      weights + ~95 MB of momentum = ~190 MB, the size named in the issue.
tiny: a small CNN (~0.3 MB) so the test suite can run every benchmark in seconds.
"""
from __future__ import annotations

SIZES = ("tiny", "full")


def build_model(size: str):
    import torch

    if size == "full":
        from torchvision.models import resnet50

        return resnet50(num_classes=100)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 100),
    )


def build(size: str, device: str):
    """(model, optimizer) with momentum buffers populated, as after the first step."""
    import torch

    model = build_model(size).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    train_step(model, opt, device, batch=2)
    return model, opt


def train_step(model, opt, device: str, batch: int = 8) -> None:
    import torch

    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 100, (batch,), device=device)
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def state_of(model, opt) -> dict:
    return {"model": model.state_dict(), "optimizer": opt.state_dict()}


def state_bytes(state) -> int:
    import torch

    total = 0

    def walk(o):
        nonlocal total
        if isinstance(o, torch.Tensor):
            total += o.numel() * o.element_size()
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(state)
    return total


def flat_tensors(state, prefix: str = "") -> dict:
    """name -> tensor: the form torch.distributed.checkpoint accepts without a planner for
    optimizer state (its integer parameter keys become strings)."""
    import torch

    out = {}
    if isinstance(state, torch.Tensor):
        out[prefix] = state
    elif isinstance(state, dict):
        for k, v in state.items():
            out.update(flat_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            out.update(flat_tensors(v, f"{prefix}.{i}"))
    return out

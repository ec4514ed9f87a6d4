"""Training on CUDA against the CPU of the same machine: events/s per epoch of hepopt's trainer
(the built-in MLP), batch size by batch size, both measured in this run; and the checks that the
CUDA path gives what the CPU path gives (a model trained on the GPU reloads on the CPU with the
same predictions; the adversarial game and the boosted-tree module run on the GPU).

    python bench/gpu.py [--events 1000000] [--cpu-events 200000] [--epochs 3] [--json out.json]

Without CUDA it says so and exits 0 (HEPOPT_BENCH_DEVICE=cpu runs it all on the CPU, to check the
script itself). Needs only torch, numpy and hepopt.training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hepopt.training import Batchable, Classifier, Standardizer, TrainParams, train_classifier
from hepopt.training.optimizers import make_optimizer
from hepopt.training.trainer import build_model, predict_proba, train_epoch

BATCHES = (512, 4096, 32768)
DEVICE = os.environ.get("HEPOPT_BENCH_DEVICE", "cuda")


def toy(n: int, n_features: int, device: str, seed: int = 0) -> Batchable:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.float32)
    x = rng.normal(size=(n, n_features)).astype(np.float32) + y[:, None] * np.linspace(0, 0.6, n_features)
    return Batchable.from_numpy(x, y, rng.uniform(0.5, 1.5, n), device)


def events_per_second(data: Batchable, batch_size: int, epochs: int, n_layers: int = 3, units: int = 64) -> float:
    """Mean over ``epochs`` timed epochs of ``train_epoch``, after one untimed warm-up epoch."""
    params = TrainParams.from_mapping({"batch_size": batch_size, "n_layers": n_layers, "units": units})
    model = build_model(data.x.shape[1], params).to(data.x.device)
    optimizer = make_optimizer(model.parameters(), params)
    shuffle = torch.Generator(device=data.x.device).manual_seed(0)
    penalised: list[torch.Tensor] = []
    train_epoch(model, optimizer, data, params, shuffle, penalised)  # warm-up: kernels, allocator
    if data.x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        train_epoch(model, optimizer, data, params, shuffle, penalised)
    if data.x.is_cuda:
        torch.cuda.synchronize()
    return epochs * len(data) / (time.perf_counter() - start)


def consistency(n_features: int) -> dict[str, float]:
    """Train on CUDA, reload on CPU: the same predictions; the same training on CPU lands close."""
    results = {}
    x_np = np.random.default_rng(1).normal(size=(20_000, n_features)).astype(np.float32)
    scaler = Standardizer.fit(x_np)
    params = TrainParams.from_mapping({"max_epochs": 5, "batch_size": 1024, "learning_rate": 3e-3})
    trained = {}
    for device in (DEVICE, "cpu"):
        train, val = toy(50_000, n_features, device, 2), toy(20_000, n_features, device, 3)
        result = train_classifier(params, train, val, seed=5)
        trained[device] = result
        results[f"val_loss_{device}"] = result.best_val_loss
    classifier = Classifier(trained[DEVICE].model, scaler, tuple(f"x{i}" for i in range(n_features)), params)
    with tempfile.TemporaryDirectory() as folder:
        classifier.save(Path(folder) / "cuda.pt")
        on_cpu = Classifier.load(Path(folder) / "cuda.pt", device="cpu")
    results["max_abs_diff_cuda_model_reloaded_on_cpu"] = float(
        np.max(np.abs(on_cpu.predict(x_np) - classifier.predict(x_np)))
    )
    return results


def adversarial_on_cuda(n_features: int) -> dict[str, float]:
    from hepopt.training.adversarial import train_adversarial
    from hepopt.training.adversary import AdversaryData, AdversarySpec

    spec = AdversarySpec(("shift_up",))
    train, val = toy(50_000, n_features, DEVICE, 2), toy(20_000, n_features, DEVICE, 3)

    def adversary_data(data: Batchable, seed: int) -> AdversaryData:
        target = torch.as_tensor(np.random.default_rng(seed).integers(0, 2, len(data)), device=DEVICE)
        return AdversaryData(data.x, data.y, target, data.w)

    params = TrainParams.from_mapping({"max_epochs": 2, "adv_lambda": 5.0, "adv_epochs": 3, "adv_steps": 2})
    start = time.perf_counter()
    result, _ = train_adversarial(params, train, val, adversary_data(train, 1), adversary_data(val, 2), spec, seed=1)
    return {"adversarial_seconds": time.perf_counter() - start, "adversarial_val_loss": result.best_val_loss}


def trees_on_cuda(n_features: int) -> dict[str, float]:
    """The boosted-tree module gives the same logits on the GPU as on the CPU."""
    params = TrainParams.from_mapping({"family": "hist_gradient_boosting", "max_epochs": 30})
    train, val = toy(50_000, n_features, "cpu", 2), toy(20_000, n_features, "cpu", 3)
    try:
        model = train_classifier(params, train, val).model
    except Exception as err:  # noqa: BLE001 - e.g. no (or an old) scikit-learn there: say so, go on
        return {"trees_skipped": repr(err)}  # type: ignore[dict-item]
    cpu = predict_proba(model, val.x)
    gpu = predict_proba(model.to(DEVICE), val.x.to(DEVICE))
    return {"trees_max_abs_diff_gpu_cpu": float(np.max(np.abs(gpu - cpu)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cpu-events", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (the CPU path is measured by bench/trainer.py)")
        return
    gpu = torch.cuda.get_device_name(0) if DEVICE == "cuda" else DEVICE
    out: dict[str, object] = {
        "gpu": gpu,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "events": {"cuda": args.events, "cpu": args.cpu_events},
        "features": args.features,
        "batches": {},
    }
    print(f"{gpu} vs {torch.get_num_threads()} CPU threads, torch {torch.__version__}, MLP 3 x 64")
    print(f"{'batch':>7} {'CPU events/s':>14} {'CUDA events/s':>14} {'ratio':>7}")
    cuda_data, cpu_data = toy(args.events, args.features, DEVICE), toy(args.cpu_events, args.features, "cpu")
    for batch in BATCHES:
        cpu = events_per_second(cpu_data, batch, args.epochs)
        cuda = events_per_second(cuda_data, batch, args.epochs)
        out["batches"][batch] = {"cpu": cpu, "cuda": cuda, "ratio": cuda / cpu}  # type: ignore[index]
        print(f"{batch:>7} {cpu:>14,.0f} {cuda:>14,.0f} {cuda / cpu:>7.1f}")
    # A wider network, where the GPU's arithmetic pays: 5 x 256 at batch 4096.
    cpu = events_per_second(cpu_data, 4096, args.epochs, n_layers=5, units=256)
    cuda = events_per_second(cuda_data, 4096, args.epochs, n_layers=5, units=256)
    out["wide_5x256_batch_4096"] = {"cpu": cpu, "cuda": cuda, "ratio": cuda / cpu}
    print(f"5 x 256, batch 4096: {cpu:,.0f} vs {cuda:,.0f} events/s, ratio {cuda / cpu:.1f}")
    checks = {**consistency(args.features), **adversarial_on_cuda(args.features), **trees_on_cuda(args.features)}
    out["checks"] = checks
    for key, value in checks.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

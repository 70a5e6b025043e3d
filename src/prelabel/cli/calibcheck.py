"""``prelabel calibcheck``: do LiDAR depth edges meet image edges? Flag and refine camera-from-LiDAR extrinsics."""

from __future__ import annotations

import json

import typer

from prelabel.cli._common import EXIT_SOME_FAILED, console, friendly_errors


def register(app: typer.Typer) -> None:
    @app.command("calibcheck")
    @friendly_errors
    def calibcheck(
        root: str = typer.Argument(..., help="KITTI object folder (calib/, image_2/, velodyne/ or velodyne_reduced/)."),
        frames: str = typer.Option("000000-000019", "--frames", help="Frame ids: 000000-000019 or 000000,000004."),
        camera: str = typer.Option("image_2", "--camera", help="KITTI camera: image_0..image_3."),
        perturb_deg: float = typer.Option(0.0, "--perturb-deg", help="Rotate the given extrinsics first (a test)."),
        perturb_m: float = typer.Option(0.0, "--perturb-m", help="Move the given extrinsics first (a test)."),
        seed: int = typer.Option(0, "--seed", help="Seed for the perturbation's direction."),
        flag_deg: float = typer.Option(0.5, "--flag-deg", help="Flag when the best fit rotates more than this."),
        flag_m: float = typer.Option(0.08, "--flag-m", help="Flag when the best fit moves more than this (metres)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Score how well LiDAR depth edges meet image edges over several frames, refine the extrinsics by a local
        search, and exit 1 when the given calibration is flagged (the refined correction is beyond the limits)."""
        from pathlib import Path

        from prelabel.errors import InputNotFoundError, PrelabelError
        from prelabel.lidar import calibcheck as cc

        if not Path(root).is_dir():
            raise InputNotFoundError(root, what="KITTI object folder")
        prepared, skipped = [], []
        for fid in cc.kitti_ids(frames):
            try:
                prepared.append(cc.prepare(cc.load_kitti_frame(root, fid, camera)))
            except PrelabelError as e:  # one bad frame is reported and the others still count
                skipped.append(f"{fid}: {e}")
                console.print(f"[yellow]skipped[/] {fid}: {e}", highlight=False)
        if not prepared:
            raise PrelabelError(f"no usable frame in {frames!r} under {root}: " + "; ".join(skipped[:3]))
        pert = cc.perturbation(perturb_deg, perturb_m, seed) if (perturb_deg or perturb_m) else None
        if pert is not None:
            prepared = [cc.perturbed(p, pert) for p in prepared]
        res = cc.search(prepared, flag_deg=flag_deg, flag_m=flag_m)
        out: dict[str, object] = {
            "frames": len(prepared),
            "skipped": skipped,
            "camera": camera,
            "score_given": round(res.score_given, 6),
            "score_refined": round(res.score_refined, 6),
            "correction_deg": round(res.rotation_deg, 3),
            "correction_m": round(res.translation_m, 4),
            "flagged": res.flagged,
            "correction": [[round(v, 6) for v in row] for row in res.delta.tolist()],
        }
        if pert is not None:
            err = res.delta @ pert
            out["residual_deg"] = round(cc.rotation_angle_deg(err), 3)
            out["residual_m"] = round(float((err[:3, 3] ** 2).sum() ** 0.5), 4)
        if as_json:
            typer.echo(json.dumps(out))
        else:
            verdict = "[bold red]FLAGGED[/]" if res.flagged else "[green]ok[/]"
            console.print(
                f"{verdict} {camera} over {len(prepared)} frames: edge score {res.score_given:.4f} given, "
                f"{res.score_refined:.4f} refined; best correction {res.rotation_deg:.2f} deg, "
                f"{100 * res.translation_m:.1f} cm"
            )
            if pert is not None:
                console.print(f"residual after refinement: {out['residual_deg']} deg, {out['residual_m']} m")
        if res.flagged:
            raise typer.Exit(EXIT_SOME_FAILED)

"""The SageMaker async-inference auto-labeling walk-through, self-hosted with prelabel.

    python examples/async_walkthrough.py --workdir walkthrough-out            # starts its own service
    python examples/async_walkthrough.py --url http://127.0.0.1:8080 ...      # or uses a running `prelabel serve`

1. start the service (`prelabel serve`) unless --url is given
2. turn a ROS bag (or video) into PNG frames if one is given, and upload the frames to storage (a folder, or
   s3://bucket/prefix with --upload-to)
3. create a model (zoo id), an endpoint config (4 concurrent invocations per instance, output and failure paths)
   and an endpoint that scales on backlog per instance (target 5, min 0 instances, max 2)
4. invoke_async for every frame (answered at once with the output location), then wait for all results
5. draw one result (boxes and masks over the frame)
6. convert the results into a Ground Truth input manifest for a bounding-box adjustment job, with the
   label-categories file and the worker template
7. delete the endpoint, the endpoint config and the model; stop the service
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from prelabel import storage
from prelabel.client import Client, ScalingPolicy
from prelabel.core.labels import FrameRecord
from prelabel.sources.frames import input_kind, iter_decoded, iter_frames
from prelabel.sources.images import image_frames, load_image
from prelabel.viz.overlay import draw_labels, save_png

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--frames",
        default=str(HERE / "sample_frames"),
        help="folder of frames (PNG/JPEG), or a ROS bag / MCAP / video to turn into PNG frames first",
    )
    ap.add_argument("--topic", default=None, help="image topic of the bag (default: every image topic)")
    ap.add_argument("--workdir", default="walkthrough-out", help="where outputs, overlay and manifest go")
    ap.add_argument("--upload-to", default=None, help="storage prefix for the frames (default <workdir>/uploads)")
    ap.add_argument("--output-to", default=None, help="storage prefix for results (default <workdir>/async-out)")
    ap.add_argument("--url", default=None, help="a running service; default: start one for this run")
    ap.add_argument("--model", default="ssd-mobilenet-v2-coco", help="zoo id, private model or endpoint URL")
    ap.add_argument("--cooldown", type=float, default=300.0, help="scale-in/out cooldowns in seconds")
    args = ap.parse_args(argv)

    work = Path(args.workdir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    service = None
    url = args.url
    if url is None:
        from prelabel.service.launch import ServiceProcess

        roots = [str(work)] + [p for p in (args.upload_to, args.output_to) if p]  # where it may read and write
        service = ServiceProcess(work / "service-state", roots=roots).start()
        url = service.url
        print(f"1. service started at {url} (state in {service.state_dir})")
    try:
        with Client(url) as client:
            run(client, args, work)
    finally:
        if service is not None:
            service.stop()
            print("7. service stopped")
    return 0


def run(client: Client, args: argparse.Namespace, work: Path) -> None:
    # 2. (bags, video: decode to PNG frames first) upload: payloads travel through storage, not through HTTP
    upload = args.upload_to or str(work / "uploads")
    inputs = []
    if input_kind(args.frames) == "images":
        for frame in image_frames(args.frames):
            dest = storage.join(upload, Path(frame.uri).name)
            storage.write_bytes(dest, storage.read_bytes(frame.uri))
            inputs.append(dest)
    else:
        import cv2

        frames = iter_frames(args.frames, topics=[args.topic] if args.topic else None)
        for i, (frame, image, error) in enumerate(iter_decoded(frames, workers=1)):
            if image is None:
                print(f"   skipped {frame.uri}: {error}")
                continue
            ok, png = cv2.imencode(".png", image[:, :, ::-1])
            if not ok:
                print(f"   skipped {frame.uri}: could not encode it as PNG")
                continue
            dest = storage.join(upload, f"{i:06d}.png")
            storage.write_bytes(dest, png.tobytes())
            inputs.append(dest)
    print(f"2. uploaded {len(inputs)} frames to {upload}")

    # 3. model, endpoint config, endpoint with an autoscaling policy
    tag = f"walk-{int(time.time())}"
    client.create_model(tag, args.model)
    client.create_endpoint_config(
        tag,
        tag,
        output_path=args.output_to or str(work / "async-out"),
        failure_path=storage.join(args.output_to, "failures") if args.output_to else str(work / "async-failures"),
        max_concurrent_invocations_per_instance=4,
    )
    policy = ScalingPolicy(
        min_instances=0,
        max_instances=2,
        target_backlog_per_instance=5,
        scale_in_cooldown_s=args.cooldown,
        scale_out_cooldown_s=args.cooldown,
    )
    ep = client.create_endpoint(tag, tag, policy)
    print(f"3. endpoint {ep.name}: {ep.status}, {ep.instances} instances (min 0, max 2, target backlog 5)")

    # 4. invoke_async for every frame, keep the output locations, wait
    t0 = time.monotonic()
    accepted = [client.invoke_async(tag, uri) for uri in inputs]
    print(
        f"4. {len(accepted)} invocations accepted in {time.monotonic() - t0:.2f} s; e.g. {accepted[0].output_location}"
    )
    done = client.wait_all([a.inference_id for a in accepted], timeout_s=600)
    failed = [d for d in done if d.status != "completed"]
    print(
        f"   all finished in {time.monotonic() - t0:.1f} s: {len(done) - len(failed)} completed, {len(failed)} failed"
    )
    for d in failed:
        print(f"   failed {d.input_location}: {d.error}")
    records = [FrameRecord.from_json(storage.read_text(d.output_location)) for d in done if d.status == "completed"]

    # 5. draw one result
    best = max(records, key=lambda r: len(r.labels))
    overlay = work / f"overlay_{best.frame.id}.png"
    save_png(draw_labels(load_image(best.frame), best.labels), str(overlay))
    print(f"5. drew {len(best.labels)} labels of {best.frame.id} on {overlay}")

    # 6. Ground Truth input manifest for an adjustment job (when the formats module is there)
    try:
        from prelabel.formats import groundtruth
    except ImportError:
        print("6. skipped: prelabel.formats.groundtruth is not installed")
    else:
        manifest = work / "groundtruth" / "input.manifest"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        summary = groundtruth.write(records, str(manifest), job_name="labeling-job/auto-label", overwrite=True)
        cats = list(summary.categories)
        (manifest.parent / "label-categories.json").write_text(json.dumps(groundtruth.label_categories(cats)))
        template = groundtruth.worker_template("adjustment", groundtruth.DEFAULT_ATTRIBUTE, cats)
        (manifest.parent / "template.liquid.html").write_text(template)
        print(
            f"6. Ground Truth manifest: {manifest} "
            f"({summary.frames} frames, {summary.labels} boxes, {len(cats)} classes)"
        )

    # 7. clean up
    client.delete_endpoint(tag)
    client.delete_endpoint_config(tag)
    client.delete_model(tag)
    print(f"7. deleted endpoint, endpoint config and model {tag}")


if __name__ == "__main__":
    sys.exit(main())

import cv2
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from curate.cli.main import app
from curate.dataset import images_frame, objects_frame, read_dataset, save_tables, stable_id

runner = CliRunner()


def test_box_issues_command_scores_boxes_and_lists_missing_ones(tmp_path):
    (tmp_path / "media").mkdir()
    images, objects = [], []
    for n in range(2):
        image_id = stable_id("shop", n)
        cv2.imwrite(str(tmp_path / "media" / f"{n}.png"), np.full((40, 40, 3), 240, np.uint8))
        images.append({"image_id": image_id, "path": f"media/{n}.png", "width": 40, "height": 40, "source": "shop", "source_id": str(n)})
        objects.append({"object_id": stable_id(image_id, 0), "image_id": image_id, "object_type": "full-body", "category": "dresses",
                        "source_label": "dress", "box_origin": "manual", "x_min": 0.1, "y_min": 0.1, "x_max": 0.5, "y_max": 0.9})
    save_tables(tmp_path, images_frame(images), objects_frame(objects), {"name": "shop"})
    predictions = pd.DataFrame(
        {"image_id": [images[0]["image_id"], images[1]["image_id"]], "object_type": ["full-body", "full-body"],
         "x_min": [0.1, 0.6], "y_min": [0.1, 0.1], "x_max": [0.5, 0.95], "y_max": [0.9, 0.9], "score": [0.8, 0.9]}
    )
    predictions.to_parquet(tmp_path / "predictions.parquet")

    result = runner.invoke(app, ["box-issues", str(tmp_path), "--predictions", str(tmp_path / "predictions.parquet")])
    assert result.exit_code == 0, result.output
    scores = read_dataset(tmp_path).objects.set_index("image_id")["box_spurious_score"]
    assert abs(scores[images[0]["image_id"]] - 0.2) < 1e-6  # matched exactly by a 0.8-confidence box
    assert scores[images[1]["image_id"]] == 1.0  # the only full-body box predicted there is elsewhere
    missing = pd.read_parquet(tmp_path / "reports" / "likely_missing_boxes.parquet")
    assert missing["image_id"].tolist() == [images[1]["image_id"]] and abs(missing["box_missing_score"].iloc[0] - 0.9) < 1e-6

    predictions.drop(columns=["score"]).to_parquet(tmp_path / "bad.parquet")
    result = runner.invoke(app, ["box-issues", str(tmp_path), "--predictions", str(tmp_path / "bad.parquet")])
    assert result.exit_code == 1 and "bad.parquet: field 'score': missing columns score" in result.output

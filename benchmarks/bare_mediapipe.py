"""The bare-MediaPipe reference of benchmarks/label_process.py: decode a video with PyAV and run MediaPipe Pose on
every frame, as ``skelrec label`` does, with nothing else (no model, no outputs).

    python benchmarks/bare_mediapipe.py VIDEO        # prints the number of frames with a person
"""

from __future__ import annotations

import sys

import av
import mediapipe as mp


def main(path: str) -> int:
    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=False)
    found = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            found += pose.process(frame.to_ndarray(format="rgb24")).pose_landmarks is not None
    pose.close()
    return found


if __name__ == "__main__":
    print(main(sys.argv[1]))

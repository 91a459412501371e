"""Pose estimation: video frames -> per-person landmarks (:class:`PoseSequence`) -> skelrec skeleton arrays.

``create_estimator("mediapipe")`` builds the default backend; :func:`extract_poses` runs it over a video file with
an on-disk cache. See :mod:`skelrec.pose.base` for the backend interface and :mod:`skelrec.pose.tracking` for how
person identities are kept across frames.
"""

from skelrec.pose import mediapipe as _mediapipe  # noqa: F401  (registers the MediaPipe backends)
from skelrec.pose.base import POSE_BACKENDS, PoseEstimator, create_estimator, register_pose_backend
from skelrec.pose.cache import POSE_CACHE_DIR, cache_path, extract_poses, file_digest
from skelrec.pose.mediapipe import MediaPipePoseEstimator, MediaPipeTasksPoseEstimator
from skelrec.pose.options import PoseOptions
from skelrec.pose.sequence import POSE_SUFFIX, PoseSequence
from skelrec.pose.tracking import Detection, PersonTracker

__all__ = [
    "POSE_BACKENDS",
    "POSE_CACHE_DIR",
    "POSE_SUFFIX",
    "Detection",
    "MediaPipePoseEstimator",
    "MediaPipeTasksPoseEstimator",
    "PersonTracker",
    "PoseEstimator",
    "PoseOptions",
    "PoseSequence",
    "cache_path",
    "create_estimator",
    "extract_poses",
    "file_digest",
    "register_pose_backend",
]

"""odh-core plugin `hf`: import Hugging Face models into S3 (jobs API + ODH-TEC routes).

Streams each file from the hub into an S3 multipart upload through the s3 plugin's published
`s3.access`, verifies size and sha256 before completing, resumes cut downloads with Range.
"""
from .plugin import HfPlugin

__all__ = ["HfPlugin"]

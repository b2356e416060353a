"""Condition embeddings for networks that take a condition ``c`` (and the null ``∅``)."""

from genmatch.nn.conditions.base import AbstractConditionEmbedding
from genmatch.nn.conditions.features import FeatureEmbedding
from genmatch.nn.conditions.labels import LabelEmbedding

__all__ = ["AbstractConditionEmbedding", "FeatureEmbedding", "LabelEmbedding"]

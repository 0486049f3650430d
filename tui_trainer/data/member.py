"""An image that is not a file of its own: a tar shard's member, a row of a Hugging Face dataset.

A listing holds these beside plain image paths, and everything downstream (fingerprint, decode,
bad-image check, the confusion screen's file names) treats both alike: a member is shown by its
`name` ("train-000003.tar:cat_12.jpg", "beans[validation][7]"), fingerprinted by its `key`, and
its encoded bytes are read in the listing process (`read`) and handed to the decode workers, so
nothing is ever extracted to disk.
"""

from __future__ import annotations


class Member:
    """Base of the member kinds; a subclass sets `name` and `key` and says how to `read` its bytes."""

    name: str  # what messages and the confusion screen show
    key: str  # one fingerprint line: changes when the bytes may have

    def read(self) -> bytes:
        """The encoded image (JPEG, PNG, ...); OSError when it cannot be read."""
        raise NotImplementedError

    def identity(self) -> dict[str, str | int]:
        """Which sample this is, as a label review file names it (`data.review_file`): a shard's file name
        and the sample's key in it, or a dataset, its split and row; {} where a decision cannot name it."""
        return {}

    def __str__(self) -> str:
        return self.name


Encoded = tuple[str, bytes]
"""(name, encoded image): a member as the decode workers receive it."""

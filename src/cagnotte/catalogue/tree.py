"""A merchant's categories as a tree: paths, depths, and the checks of a change.

Pure: the service reads (and locks) the categories, builds a CategoryTree, asks
it whether a change may be made, and writes. The checks raise the domain error
that says no, in this order: not_found, category_cycle, category_too_deep,
category_name_taken, categories_too_many.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cagnotte import errors
from cagnotte.catalogue.fields import (
    CATEGORIES_PER_MERCHANT_MAX,
    CATEGORY_DEPTH_MAX,
    name_key,
)
from cagnotte.catalogue.rows import Category, CategoryNode

NO_SUCH_CATEGORY = "No such category."


class CategoryTree:
    """The categories of one merchant, by id and by parent."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_id: dict[uuid.UUID, Category] = {}
        self._children: dict[uuid.UUID | None, list[Category]] = {}
        for category in categories:
            self.add(category)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, category: Category) -> None:
        assert category.id not in self._by_id
        self._by_id[category.id] = category
        self._children.setdefault(category.parent_id, []).append(category)

    def replace(self, category: Category) -> None:
        """Put a renamed or moved category in the place of its old self."""
        old = self._by_id.pop(category.id)
        self._children[old.parent_id].remove(old)
        self.add(category)

    def get(self, category_id: uuid.UUID) -> Category:
        """The category, or not_found."""
        category = self._by_id.get(category_id)
        if category is None:
            raise errors.NotFound(NO_SUCH_CATEGORY)
        return category

    def chain(self, category_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
        """The category's id, then its parent's, and so on up to the root."""
        chain = [category_id]
        parent_id = self._by_id[category_id].parent_id
        while parent_id is not None:
            assert len(chain) <= len(self._by_id), f"a cycle through {category_id}"
            chain.append(parent_id)
            parent_id = self._by_id[parent_id].parent_id
        return tuple(chain)

    def depth(self, category_id: uuid.UUID | None) -> int:
        """1 for a root category; 0 for the place above the roots."""
        return 0 if category_id is None else len(self.chain(category_id))

    def height(self, category_id: uuid.UUID) -> int:
        """The levels of the category's subtree, itself included."""
        children = self._children.get(category_id, [])
        return 1 + max((self.height(child.id) for child in children), default=0)

    def path(self, category_id: uuid.UUID) -> tuple[str, ...]:
        return tuple(self._by_id[i].name for i in reversed(self.chain(category_id)))

    def child_named(self, parent_id: uuid.UUID | None, name: str) -> Category | None:
        """The child of `parent_id` (a root for None) with this name, in any case."""
        key = name_key(name)
        for child in self._children.get(parent_id, []):
            if name_key(child.name) == key:
                return child
        return None

    # Checks ------------------------------------------------------------------

    def check_new(self, parent_id: uuid.UUID | None, name: str) -> None:
        """Whether a new category may go below `parent_id` (None: the top) under this name."""
        if parent_id is not None:
            self.get(parent_id)
        if self.depth(parent_id) + 1 > CATEGORY_DEPTH_MAX:
            raise errors.CategoryTooDeep(
                f"A category is at most {CATEGORY_DEPTH_MAX} levels below the top."
            )
        self._check_name_free(parent_id, name, None)
        if len(self) + 1 > CATEGORIES_PER_MERCHANT_MAX:
            raise errors.CategoriesTooMany(
                f"A catalogue has at most {CATEGORIES_PER_MERCHANT_MAX} categories."
            )

    def check_change(self, category_id: uuid.UUID, name: str, parent_id: uuid.UUID | None) -> None:
        """Whether the category may take this name and go below `parent_id`."""
        category = self.get(category_id)
        if parent_id is not None:
            self.get(parent_id)
            if category_id in self.chain(parent_id):
                raise errors.CategoryCycle(
                    "A category cannot move below itself or one of its subcategories."
                )
        if parent_id != category.parent_id and (
            self.depth(parent_id) + self.height(category_id) > CATEGORY_DEPTH_MAX
        ):
            raise errors.CategoryTooDeep(
                f"With its subcategories the category would be more than {CATEGORY_DEPTH_MAX}"
                " levels below the top."
            )
        self._check_name_free(parent_id, name, category_id)

    def _check_name_free(
        self, parent_id: uuid.UUID | None, name: str, category_id: uuid.UUID | None
    ) -> None:
        sibling = self.child_named(parent_id, name)
        if sibling is not None and sibling.id != category_id:
            raise errors.CategoryNameTaken()

    # Views -------------------------------------------------------------------

    def roots(self) -> list[CategoryNode]:
        """The tree, each level in name order."""
        return self._nodes(None, ())

    def node(self, category_id: uuid.UUID) -> CategoryNode:
        category = self.get(category_id)
        path = self.path(category_id)
        return CategoryNode(category, path, tuple(self._nodes(category_id, path)))

    def flattened(self) -> list[CategoryNode]:
        """Every category, each before its children: the tree read top to bottom."""
        found: list[CategoryNode] = []
        pending = list(reversed(self.roots()))
        while pending:
            node = pending.pop()
            found.append(node)
            pending.extend(reversed(node.children))
        return found

    def _nodes(self, parent_id: uuid.UUID | None, path: tuple[str, ...]) -> list[CategoryNode]:
        children = sorted(
            self._children.get(parent_id, []), key=lambda c: (name_key(c.name), c.name, c.id)
        )
        nodes = []
        for child in children:
            child_path = (*path, child.name)
            nodes.append(CategoryNode(child, child_path, tuple(self._nodes(child.id, child_path))))
        return nodes

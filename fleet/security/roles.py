"""The six roles. Stored by their slug; labels for the dashboard in Chinese and English."""

from __future__ import annotations

import enum


class Role(str, enum.Enum):
    admin = "city_admin"
    viewer = "city_viewer"
    township = "township_staff"
    operator = "gas_operator"
    installer = "installer"
    maker = "maker"


ROLE_LABELS: dict[str, tuple[str, str]] = {
    Role.admin.value: ("城市管理员", "city administrator"),
    Role.viewer.value: ("城市查看员", "city viewer"),
    Role.township.value: ("乡镇工作人员", "township staff"),
    Role.operator.value: ("燃气公司操作员", "gas-company operator"),
    Role.installer.value: ("安装人员", "installer"),
    Role.maker.value: ("生产厂家", "maker"),
}

ALL_ROLES: frozenset[str] = frozenset(r.value for r in Role)


def parse_role(text: str) -> Role:
    """A role from its slug or its enum name ('admin' or 'city_admin'); a clear error otherwise."""
    for r in Role:
        if text in (r.value, r.name):
            return r
    choices = ", ".join(r.value for r in Role)
    raise ValueError(f"role {text!r}: expected one of {choices}")


def label(role: str, lang: str = "zh") -> str:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return zh if lang == "zh" else en

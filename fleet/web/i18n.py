"""Dashboard strings in Chinese (default) and English. A missing key shows the key itself, so a
gap is visible on the page instead of crashing it."""

from __future__ import annotations

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "title": ("燃气报警设备监控", "Gas alarm fleet"),
    "alarms_now": ("当前报警", "Alarms now"),
    "no_alarms": ("当前没有报警", "No active alarms"),
    "alarms_shown": ("显示 %s 条，共 %s 条当前报警（未确认在前，最新在前）",
                     "Showing %s of %s active alarms (open first, newest first)"),
    "alarms_show_more": ("显示前 %d 条", "show the first %d"),
    "alarms_all_api": ("全部报警 (API)", "every active alarm (API)"),
    "devices": ("设备", "Devices"),
    "online": ("在线", "Online"),
    "offline": ("离线", "Offline"),
    "total": ("总数", "Total"),
    "device": ("设备", "Device"),
    "site": ("用户", "Site"),
    "address": ("地址", "Address"),
    "level": ("级别", "Level"),
    "level_1": ("低报", "low"),
    "level_2": ("高报", "high"),
    "peak_lel": ("最高浓度 %LEL", "Peak %LEL"),
    "opened_at": ("报警时间", "Opened"),
    "state": ("状态", "State"),
    "state_open": ("未确认", "open"),
    "state_acknowledged": ("已确认", "acknowledged"),
    "state_resolved": ("已处理", "resolved"),
    "valve": ("切断阀", "Valve"),
    "valve_0": ("开启", "open"),
    "valve_1": ("已关闭", "closed"),
    "valve_2": ("关闭中", "closing"),
    "valve_3": ("未知", "unknown"),
    "valve_closed_at": ("关阀时间", "Valve closed"),
    "acknowledge": ("确认", "Acknowledge"),
    "resolve": ("处理完毕", "Resolve"),
    "your_name": ("确认人", "Your name"),
    "acknowledged_by": ("确认人", "Acknowledged by"),
    "escalated": ("已升级", "Escalated"),
    "last_report": ("最后上报", "Last report"),
    "last_online": ("上线时间", "Last online"),
    "last_offline": ("离线时间", "Last offline"),
    "firmware": ("固件", "Firmware"),
    "model": ("型号", "Model"),
    "health": ("健康状态", "Health"),
    "timeline": ("事件记录", "Timeline"),
    "readings": ("浓度曲线 (%LEL)", "Gas reading (%LEL)"),
    "no_readings": ("暂无数据", "No readings yet"),
    "time": ("时间", "Time"),
    "kind": ("类型", "Kind"),
    "seq": ("序号", "Seq"),
    "detail": ("详情", "Detail"),
    "gaps": ("缺失序号", "Sequence gaps"),
    "refusals": ("拒收的消息 (OSCORE)", "Refused messages (OSCORE)"),
    "no_refusals": ("无", "none"),
    "oscore_since": ("加密通信 (OSCORE) 自", "Speaks OSCORE since"),
    "count": ("次数", "Count"),
    "first_at": ("首次", "First"),
    "last_at": ("最近", "Last"),
    "from": ("来源", "From"),
    "rf_oscore_replay": ("重放 (序号已用过)", "replayed (sequence number already used)"),
    "rf_oscore_decrypt_failed": ("伪造或密钥错误", "forged or wrong key"),
    "rf_oscore_required": ("未加密 (该设备必须加密)", "unprotected (this device must use OSCORE)"),
    "rf_oscore_wrong_device": ("用本设备密钥冒充其他设备", "named another device under this device's key"),
    "rf_oscore_bad_option": ("OSCORE 选项格式错误", "malformed OSCORE option"),
    "rf_oscore_decode_failed": ("解密后内容格式错误", "authentic but malformed inside"),
    "rf_oscore_echo": ("服务重启后的 Echo 确认", "Echo check after a fleet restart"),
    "rf_oscore_unknown_context": ("未知密钥", "unknown key"),
    "none": ("无", "none"),
    "back": ("返回总览", "Back to overview"),
    "faults": ("故障", "Faults"),
    "lel": ("浓度 %LEL", "%LEL"),
    "never": ("从未", "never"),
    "ev_boot": ("启动", "boot"),
    "ev_alarm": ("报警", "alarm"),
    "ev_alarm_clear": ("报警解除", "alarm cleared"),
    "ev_valve_closed": ("切断阀关闭", "valve closed"),
    "ev_valve_reopened": ("切断阀复位", "valve reopened"),
    "ev_fault": ("故障", "fault"),
    "ev_fault_clear": ("故障恢复", "fault cleared"),
    "ev_power_lost": ("断电", "power lost"),
    "ev_power_back": ("来电", "power back"),
    "ev_selftest": ("自检", "self-test"),
    "ev_calibration": ("标定", "calibration"),
    "ev_offline": ("离线", "went offline"),
    "ev_online": ("恢复在线", "back online"),
    "lang_switch": ("English", "中文"),
    "not_found": ("未找到", "Not found"),
    "nav_workorders": ("工单", "Work orders"),
    "nav_campaign": ("整治进度", "Campaign"),
    "nav_security": ("用户", "Users"),
    "ack_ok": ("报警已确认", "Alarm acknowledged"),
    "ack_failed": ("确认未成功", "Not acknowledged"),
    "resolve_ok": ("报警已处理完毕", "Alarm resolved"),
    "resolve_failed": ("处理未成功", "Not resolved"),
}


def pick_lang(value: str | None, default: str = "zh") -> str:
    return value if value in LANGS else default


def translator(lang: str):  # type: ignore[no-untyped-def]
    idx = 0 if lang == "zh" else 1

    def t(key: str) -> str:
        pair = TEXT.get(key)
        return pair[idx] if pair else key

    return t

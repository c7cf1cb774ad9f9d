"""Every string the web pages show, in Chinese (zh-CN, the default) and English.

``STRINGS`` maps a key to its two translations; ``{name}`` placeholders are filled by
:meth:`Translator.__call__`. Category names come from the catalogue
(:mod:`closeloop.catalogue`, handed to the :class:`Translator` by the pages; the seed's
names when none is given) and the review's questions from the domain
(``domain.review``); both are looked up here too, so a page asks this module for every
word it shows. The language is ``?lang=`` (which also sets the
``closeloop_lang`` cookie), else the cookie, else Chinese.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.categories import SEED
from domain.review import DIMENSIONS

ZH = "zh-CN"
EN = "en"
LANGUAGES = (ZH, EN)
DEFAULT_LANGUAGE = ZH
LANG_COOKIE = "closeloop_lang"

#: key -> (Chinese, English)
STRINGS: dict[str, tuple[str, str]] = {
    # ---- the frame -------------------------------------------------------------------
    "app.name": ("网格民情闭环", "closeloop"),
    "app.tagline": ("1351 网格民情处置", "Resident requests on the 1351 ladder"),
    "nav.board": ("督办看板", "Supervisor board"),
    "nav.tasks": ("我的任务", "My tasks"),
    "nav.followups": ("回访队列", "Follow-up queue"),
    "nav.catalogue": ("诉求类别", "Categories"),
    "nav.report": ("我要反映", "Report a problem"),
    "nav.login": ("工作人员登录", "Staff log-in"),
    "nav.calendar": ("工作日历", "Working days"),
    "nav.logout": ("退出", "Log out"),
    "nav.switch_language": ("English", "中文"),
    "live.on": ("实时更新中", "Live"),
    "live.off": ("正在重新连接…", "Reconnecting…"),
    "live.arrived": ("新到 {n} 条诉求", "{n} new request(s) arrived"),
    "common.loading": ("加载中…", "Loading…"),
    "common.none": ("—", "—"),
    "common.timeline": ("时间线", "Timeline"),
    "common.open_timeline": ("查看时间线", "Open the timeline"),
    "common.submit": ("提交", "Submit"),
    "common.saving": ("提交中…", "Sending…"),
    "common.done": ("已完成", "Done"),
    "common.back": ("返回", "Back"),
    # ---- roles -----------------------------------------------------------------------
    "role.admin": ("管理员", "administrator"),
    "role.supervisor": ("督办员", "supervisor"),
    "role.handler": ("办理人员", "handler"),
    "role.caller": ("回访员", "follow-up caller"),
    "role.dispatcher": ("派单员", "dispatcher"),
    "role.partner": ("协办单位人员", "partner"),
    # ---- platform pages: the dispatch queue (/dispatch), the partner's page (/partner),
    # the resident's waiting, out-of-scope and appeal words (/track), and the street-office
    # operations' timeline entries (every page with a timeline)
    "nav.dispatch": ("派单队列", "Dispatch queue"),
    "nav.partner": ("我的协办", "My co-handled requests"),
    "status.waiting_dispatch": ("等待分派", "Waiting to be dispatched"),
    "dispatch.title": ("待分派诉求", "Requests waiting for dispatch"),
    "dispatch.intro": (
        "等待最久的排在最前。选择网格和办理层级，一步交办；层级已按类别预选。",
        "The longest waiting first. Choose the grid and the tier and hand it out in one "
        "step; the tier starts on the category's default.",
    ),
    "dispatch.count": ("共 {n} 件等待分派", "{n} waiting for dispatch"),
    "dispatch.showing": ("（显示等待最久的 {n} 件）", "(the {n} longest waiting shown)"),
    "dispatch.waiting_for": ("已等待", "Waiting for"),
    "dispatch.filed_at": ("受理于 {at}", "Received {at}"),
    "dispatch.grid": ("交办网格", "Grid"),
    "dispatch.tier": ("办理层级", "Tier"),
    "dispatch.tier_option": ("{tier} · {level}", "{tier} · {level}"),
    "dispatch.default_tier": ("该类别默认层级：{tier}", "The category's default tier: {tier}"),
    "dispatch.note": ("交办说明（可选）", "Note for the handler (optional)"),
    "dispatch.submit": ("交办", "Dispatch"),
    "dispatch.done": ("已交办", "Dispatched"),
    "dispatch.empty": ("没有等待分派的诉求。", "Nothing is waiting for dispatch."),
    "partner.title": ("我的协办", "My co-handled requests"),
    "partner.intro": (
        "{org}协办的诉求，待办的排在最前。",
        "Requests {org} helps with, open parts first.",
    ),
    "partner.part_open": ("待协办", "Your part: to do"),
    "partner.part_done": ("协办已完成", "Your part: done"),
    "partner.task": ("协办任务", "Your task"),
    "partner.due": ("协办时限", "Due"),
    "partner.added_by": ("发起人", "Called in by"),
    "partner.done_at": ("完成时间", "Done at"),
    "partner.done_note": ("完成说明", "Note"),
    "partner.progress": ("记录进展", "Note progress"),
    "partner.progress_note": ("进展情况", "What has been done"),
    "partner.mark_done": ("我的协办已完成", "My part is done"),
    "partner.done_note_label": ("完成说明", "What was done"),
    "partner.noted": ("进展已记录", "Progress noted"),
    "partner.marked_done": ("已标记协办完成", "Your part is marked done"),
    "partner.empty": ("暂无协办诉求。", "No requests to help with."),
    "track.status_out_of_scope": ("不予受理，已关闭", "Closed as out of scope"),
    "track.out_of_scope": ("不予受理的原因", "Why this request was closed as out of scope"),
    "track.out_of_scope_at": ("关闭时间：{at}", "Closed {at}"),
    "track.next": ("下一步", "Next"),
    "track.waiting_dispatch_note": (
        "社区平台正在分派，分派后开始计算办理时限。",
        "The community's platform is handing it out; the deadline starts once it is dispatched.",
    ),
    "track.appealed": ("申诉理由", "Your appeal"),
    "track.appeal_title": ("对结果有异议？提出申诉", "Disagree? Appeal"),
    "track.appeal_hint": (
        "可在 {until} 前申诉一次，申诉后由社区党委重新办理。",
        "You may appeal once, until {until}; the community party committee then takes it up again.",
    ),
    "track.appeal_reason": ("申诉理由", "Why you appeal"),
    "track.appeal_submit": ("提交申诉", "Send the appeal"),
    "track.appeal_sent": ("申诉已提交，诉求已重新办理", "Appeal sent: the request is reopened"),
    "event.Dispatched": ("分派", "Dispatched"),
    "event.Returned": ("退单，退回平台重新分派", "Returned to the platform for re-dispatch"),
    "event.Redirected": ("改派至其他网格", "Redirected to another grid"),
    "event.Retiered": ("调整办理层级", "Moved to another tier"),
    "event.Warned": ("预警", "Warning"),
    "event.Urged": ("催办", "Urged"),
    "event.ExtensionAsked": ("申请延期", "Extension asked"),
    "event.DeadlineExtended": ("延期获批", "Deadline extended"),
    "event.ExtensionRefused": ("延期未获批准", "Extension refused"),
    "event.CohandlerAdded": ("协办单位加入", "Co-handler called in"),
    "event.CohandlerDone": ("协办完成", "Co-handler's part done"),
    "event.ClosedOutOfScope": ("不予受理，已关闭", "Closed as out of scope"),
    "event.Appealed": ("居民申诉，重新办理", "Appealed by the resident: reopened"),
    "event.dispatched": ("分派至{tier}（{level}）", "Dispatched: {tier} ({level})"),
    "event.retiered_from": (
        "调整层级：{from_tier} → {tier}（{level}）",
        "Moved to another tier: {from_tier} → {tier} ({level})",
    ),
    "event.appealed": (
        "居民申诉，重新办理：{tier}（{level}）",
        "Appealed by the resident: reopened at {tier} ({level})",
    ),
    "event.retiered": ("调整层级至{tier}（{level}）", "Moved to {tier} ({level})"),
    "event.warned": ("预警：已过{share}时限", "Warning: {share} of the time has passed"),
    "event.extension_asked": ("申请延期至 {until}", "Extension asked until {until}"),
    "event.deadline_extended": ("延期获批，新时限 {until}", "Deadline extended to {until}"),
    "event.extension_refused": (
        "延期至 {until} 的申请未获批准",
        "Extension until {until} refused",
    ),
    "event.cohandler_added_org": ("{org}加入协办", "{org} called in as co-handler"),
    "event.cohandler_added_who": ("{who}加入协办", "{who} called in as co-handler"),
    "event.cohandler": ("协办人", "Co-handler"),
    "event.task": ("协办任务", "Task"),
    "event.due": ("协办时限", "Due"),
    "event.appeal_reason": ("申诉理由", "Appeal"),
    "event.grid": ("网格", "Grid"),
    "event.category": ("类别", "Category"),
    "event.from_to": ("{a} → {b}", "{a} → {b}"),
    "event.previous_deadline": ("原时限", "Previous deadline"),
    "event.extension_lapsed": ("待批的延期申请随之失效", "the waiting extension ask lapsed"),
    "event.progress_assisting": ("协办进展", "Progress (helping)"),
    # ---- errors ----------------------------------------------------------------------
    "error.400": ("请求有误", "Bad request"),
    "error.401": ("身份验证未通过", "Not signed in"),
    "error.403": ("无权进行此操作", "You may not do this"),
    "error.404": ("未找到", "Not found"),
    "error.409": ("当前状态不允许此操作", "Not allowed in the request's current state"),
    "error.422": ("请检查填写内容", "Please check what you entered"),
    "error.429": ("尝试次数过多", "Too many attempts"),
    "error.503": (
        "工作流服务暂时无法连接，请稍后重试",
        "The workflow service is unavailable; try again shortly",
    ),
    "error.504": ("已办理，但页面数据稍有延迟", "Done, but the pages lag behind a little"),
    "error.other": ("出错了", "Something went wrong"),
    "error.network": ("网络连接失败，请重试", "The network failed; please try again"),
    "error.signed_out": (
        "登录已失效：请在新窗口重新登录，本页填写的内容会保留。",
        "You are signed out: log in again in a new tab; what you typed here stays.",
    ),
    "error.page_role": (
        "此页面需要{roles}身份；您当前以{role}身份登录。",
        "This page needs the {roles} role; you are logged in as {role}.",
    ),
    "error.not_found_request": ("没有找到这条诉求。", "There is no such request."),
    "field.missing": ("此项必填", "This is required"),
    "field.too_short": ("不能为空", "This cannot be empty"),
    "field.too_short_n": ("至少 {n} 个字符", "At least {n} characters"),
    "field.too_long": ("最多 {n} 个字符", "At most {n} characters"),
    "field.pattern": ("格式不正确", "This is not in the right format"),
    "field.choose": ("请选择一项", "Please choose one"),
    "field.control": (
        "不能含有控制字符（发现 {found}）",
        "Must not contain control characters (found {found})",
    ),
    "field.review_answer_missing": ("请回答此项", "Please answer this"),
    "field.date_out_of_range": (
        "日期须在 {earliest} 至 {latest} 之间",
        "The date must be between {earliest} and {latest}",
    ),
    "field.date": (
        "“{value}”不是日期，请按 YYYY-MM-DD 填写",
        "“{value}” is not a date: write it as YYYY-MM-DD",
    ),
    # ---- the handler's tasks, the request page and the board: street-office operations
    # (warning, urging, extensions, co-handlers, assisting levels, return, redirect,
    # re-tier, out of scope; the handler helper's pages)
    "ops.warned": ("▲ 预警", "▲ Warned"),
    "ops.warning": ("预警", "Warning"),
    "ops.warned_long": (
        "本级时限已过 75%，临近超期",
        "Past 75% of this level's time: the deadline is near",
    ),
    "ops.urged": ("催办", "Urged"),
    "ops.urges": ("催办 {n} 次", "urged {n}×"),
    "ops.last_urged": ("最近 {at}", "last {at}"),
    "ops.extension_pending": ("延期待批（至 {until}）", "Extension asked (to {until})"),
    "ops.extension_waits": ("延期待批", "Extension waits"),
    "ops.extension_title": ("延期申请", "Extension ask"),
    "ops.extension_asked": (
        "{by} 申请延期至 {until}，待上一级审批",
        "{by} asks for more time, until {until}; the level above decides",
    ),
    "ops.extensions_approved": ("本级已批延期", "Extensions approved at this level"),
    "ops.colon": ("：", ": "),
    "ops.cohandlers": ("协办", "Co-handlers"),
    "ops.cohandlers_open": ("协办 {n} 人进行中", "{n} co-handler(s) at work"),
    "ops.due": ("期限 {at}", "due {at}"),
    "ops.co_done": ("已完成", "done"),
    "ops.co_open": ("进行中", "at work"),
    "ops.co_mark_done": ("我的协办已完成", "My part is done"),
    "ops.co_done_note": ("说明（可选）", "Note (optional)"),
    "ops.return": ("退回平台", "Return to the platform"),
    "ops.return_reason": ("退单理由", "Why it is not yours"),
    "ops.extension": ("申请延期", "Ask for more time"),
    "ops.until": ("延期至（北京时间）", "New deadline (China Standard Time)"),
    "ops.until_hint": (
        "当前时限 {deadline}；最多再延长本级时限一倍",
        "The deadline is {deadline}; at most this level's time again",
    ),
    "ops.extension_reason": ("延期理由", "Why more time is needed"),
    "ops.extension_submit": ("提交延期申请", "Ask for more time"),
    "ops.add_cohandler": ("添加协办人", "Add a co-handler"),
    "ops.cohandler_username": ("协办人用户名", "Co-handler's username"),
    "ops.cohandler_task": ("协办任务", "What they are to do"),
    "ops.cohandler_due": ("完成期限（可选，北京时间）", "Due by (optional, China Standard Time)"),
    "ops.asks_title": ("待您审批的延期申请", "Extension asks waiting for your decision"),
    "ops.asks_empty": ("暂无待审批的延期申请。", "No extension ask waits for you."),
    "ops.current_deadline": ("当前时限 {at}", "Current deadline {at}"),
    "ops.decision": ("审批", "Decision"),
    "ops.approve": ("同意延期", "Approve"),
    "ops.refuse": ("不同意", "Refuse"),
    "ops.decision_note": ("审批意见（可选）", "Note (optional)"),
    "ops.decide": ("提交审批", "Decide"),
    "ops.decide_title": ("审批延期", "Decide the extension ask"),
    "ops.assisting_title": ("协助办理", "Assisting"),
    "ops.assisting_hint": (
        "已上报或请您协办的诉求：可继续记录进展，由当前层级办结。",
        "Requests that went up from your level, or you were called in on: you may add "
        "progress notes; the current level resolves them.",
    ),
    "ops.now_at": ("现由{level}办理", "now with the {level}"),
    "ops.assisting_levels": ("协助层级", "Levels assisting"),
    "ops.waiting_since": ("等待派单自", "Waiting for dispatch since"),
    "ops.dispatch_wait": ("等待派单共计", "Time waiting for dispatch"),
    "ops.returns": ("退单 {n} 次", "returned {n}×"),
    "ops.redirects_title": ("改派次数", "Redirects"),
    "ops.out_of_scope": ("不予受理", "Out of scope"),
    "ops.appeal": ("居民申诉", "Resident's appeal"),
    "ops.oversight": ("督办与调度", "Oversight and dispatch"),
    "ops.urge": ("催办", "Urge"),
    "ops.urge_note": ("催办意见", "What to press for"),
    "ops.close_out_of_scope": ("不予受理并关闭", "Close as out of scope"),
    "ops.out_of_scope_reason": ("不予受理的理由", "Why the office cannot act on it"),
    "ops.out_of_scope_hint": (
        "居民会在查询页看到此理由，并可在 7 天内申诉一次。",
        "The resident reads this on the tracking page and may appeal once within 7 days.",
    ),
    "ops.redirect": ("改派", "Redirect"),
    "ops.redirect_grid": ("改派到网格", "To the grid"),
    "ops.redirect_reason": ("改派理由", "Why"),
    "ops.retier": ("调整层级", "Re-tier"),
    "ops.retier_tier": ("新的时限层级", "New tier"),
    "ops.retier_reason": ("调整理由", "Why"),
    "ops.col": ("督办", "Oversight"),
    "ops.filter.title": ("办理情况", "Operations"),
    "ops.filter.waiting_dispatch": ("待派单", "Waiting for dispatch"),
    "ops.filter.warned": ("预警", "Warned"),
    "ops.filter.urged": ("已催办", "Urged"),
    "ops.filter.extension_pending": ("延期待批", "Extension pending"),
    "ops.filter.cohandled": ("有协办进行中", "Co-handled"),
    "ops.filter.out_of_scope": ("不予受理", "Out of scope"),
    "tasks.returned": ("已退回平台", "Returned to the platform"),
    "tasks.extension_sent": ("延期申请已提交，待上一级审批", "Asked; the level above decides"),
    "tasks.cohandler_added": ("已添加协办人", "Co-handler added"),
    "tasks.co_marked": ("已标记完成", "Marked done"),
    "tasks.decided": ("审批已记录", "Decision recorded"),
    "tasks.urge_sent": ("已催办", "Urged"),
    "tasks.closed_out_of_scope": ("已按不予受理关闭", "Closed as out of scope"),
    "tasks.redirected": ("已改派", "Redirected"),
    "tasks.retiered": ("已调整层级", "Re-tiered"),
    # ---- the API's reason codes (api.errors): a refusal in the page's language ------------
    "reason.not_accepted": (
        "该诉求尚未签收，请先签收",
        "The request has not been accepted yet: accept it first",
    ),
    "reason.in_progress": (
        "该诉求正在办理中，尚未办结",
        "The request is being handled and has not been resolved yet",
    ),
    "reason.awaiting_review": (
        "该诉求已办结，正在等待回访",
        "The request is resolved and waits for its follow-up review",
    ),
    "reason.request_closed": (
        "该诉求已闭环，不能再办理",
        "The request is closed; nothing more can be done to it",
    ),
    "reason.top_of_ladder": (
        "已在最高层级（镇党委），不能再上报",
        "The request is already at the top of the ladder (town party committee)",
    ),
    "reason.not_assigned": (
        "您不是该诉求当前层级的办理人员",
        "You are not assigned at this request's current level",
    ),
    "reason.still_filing": (
        "该诉求正在受理中，请稍后再试",
        "The request is still being filed; try again in a moment",
    ),
    "reason.waiting_dispatch": (
        "该诉求正在等待分派，请先分派",
        "The request waits to be dispatched; dispatch it first",
    ),
    "reason.bad_tier": ("请选择 1 天、3 天、5 天或 1 个月", "Choose 1d, 3d, 5d or 1m"),
    "reason.grid_not_in_community": (
        "请选择该诉求所在社区的网格",
        "Choose a grid of the request's community",
    ),
    "reason.unknown_category": ("请选择一个在用的类别", "Choose an active category"),
    "reason.same_grid": ("该诉求已在这个网格", "The request is already at that grid"),
    "reason.same_tier": ("该诉求已在这个时限层级", "The request is already on that tier"),
    "reason.no_deadline": ("该诉求当前没有办理时限", "No deadline runs for this request"),
    "reason.extension_pending": (
        "已有一条延期申请在等待审批",
        "An extension ask is already waiting for its decision",
    ),
    "reason.extension_limit": (
        "本层级的延期次数已用完",
        "This tier has had all the extensions it may have",
    ),
    "reason.extension_not_later": (
        "新的办理时限须晚于当前时限",
        "The new deadline must be later than the current one",
    ),
    "reason.extension_too_long": (
        "延期最多为本层级时限的一倍",
        "An extension is at most the tier's own length",
    ),
    "reason.no_extension_pending": (
        "没有等待审批的延期申请",
        "No extension ask is waiting for a decision",
    ),
    "reason.unknown_cohandler": (
        "协办人须是在用的合作单位人员或办理人员",
        "A co-handler is an active partner or handler",
    ),
    "reason.cohandler_exists": ("此人已是该诉求的协办人", "That user is already a co-handler"),
    "reason.not_cohandler": (
        "您在该诉求中没有未完成的协办任务",
        "You have no open part in this request",
    ),
    "reason.not_appealable": (
        "只有以“不予受理”办结的诉求可以申诉",
        "Only a request closed as out of scope can be appealed",
    ),
    "reason.appeal_used": ("该诉求已申诉过一次", "This request has been appealed once already"),
    "reason.appeal_window_passed": (
        "申诉期（7 天）已过",
        "The 7 days to appeal have passed",
    ),
    "reason.required": ("此项必填", "This is required"),
    "reason.review_incomplete": ("请回答此项", "Please answer this"),
    "reason.bad_answer": ("请选择“是”“部分”或“否”", "Choose yes, partly or no"),
    "reason.request_not_found": ("没有找到这条诉求", "There is no such request"),
    "reason.unavailable": (
        "工作流服务暂时无法连接，请稍后重试",
        "The workflow service is unavailable; try again shortly",
    ),
    "reason.lagging": (
        "已办理，页面数据稍后更新",
        "Done; the pages will show it in a moment",
    ),
    "reason.unknown_grid": (
        "没有这个网格，请从列表中选择",
        "There is no such grid: choose one from the list",
    ),
    "reason.open311_key_not_found": (
        "没有这个 Open311 密钥，请刷新列表",
        "There is no such Open311 key: reload the list",
    ),
    "reason.idempotency_conflict": (
        "此次提交与先前的一次提交不同，请刷新页面后重新填写",
        "This submission differs from an earlier one with the same key: reload and file again",
    ),
    "reason.too_large": ("提交的内容太大", "What was sent is too large"),
    # ---- place and photos (domain.place, closeloop.media) ----
    # ---- likely duplicates (the request page's section, the dispatch queue's mark) ----
    "dup.title": ("可能重复", "Possible duplicates"),
    "dup.intro": (
        "同类别 {m} 米内，或同网格描述相近、{days} 天内受理的未办结诉求：",
        "Open requests of the same category within {m} m, or of the same grid with a "
        "similar description, filed within {days} days:",
    ),
    "dup.none": ("没有可能重复的诉求。", "No possible duplicates."),
    "dup.nearby": ("相距 {m} 米", "{m} m away"),
    "dup.similar_text": ("描述相似度 {pct}%", "description {pct}% similar"),
    "dup.and": ("；", "; "),
    "dup.filed": ("受理于 {at}", "filed {at}"),
    "dup.count": ("可能重复 {n} 件", "{n} possible duplicate(s)"),
    "dup.merge": ("合并到此诉求", "Merge into this request"),
    "dup.merge_hint": (
        "本诉求将并入上面这件，由其一并办理。",
        "This request joins the one above and is handled with it.",
    ),
    "dup.merge_reason": ("合并原因", "Why they are the same"),
    "dup.merge_submit": ("合并", "Merge"),
    "dup.merged": ("已合并", "Merged"),
    # ---- merging (合并): the merged request's banner, the primary's list, refusals ----
    "merge.banner": (
        "本诉求已合并到另一件诉求，随其一并办理，自身时限暂停。",
        "This request is merged into another one and is handled with it; its own clock is stopped.",
    ),
    "merge.followed": (
        "本诉求曾合并到另一件诉求，随其一并办结。",
        "This request was merged into another one and resolved with it.",
    ),
    "merge.primary": ("合并到", "Merged into"),
    "merge.primary_status": ("该诉求状态：{status}", "Its status: {status}"),
    "merge.reason": ("合并原因", "Why"),
    "merge.by": ("合并人", "Merged by"),
    "merge.duplicates": ("已并入的重复诉求", "Requests merged into this one"),
    "merge.duplicates_hint": (
        "本诉求办结时，这些诉求以同样的答复一并办结，各自的居民分别评价。",
        "When this request is resolved, these are resolved with the same resolution and "
        "each resident reviews their own.",
    ),
    "merge.unmerge": ("取消合并", "Take out of the merge"),
    "merge.unmerge_hint": (
        "本诉求恢复单独办理，回到原来的网格和层级，时限从现在重新计算。",
        "This request is handled on its own again, where it was, its deadline counted from now.",
    ),
    "merge.unmerge_reason": ("取消原因", "Why they are not the same"),
    "merge.unmerge_submit": ("取消合并", "Take out"),
    "merge.unmerged": ("已取消合并", "Taken out of the merge"),
    "track.merged": (
        "您反映的问题与其他居民对同一问题的反映合并办理。办结时您会收到同样的答复，并可单独评价。",
        "Your report is handled together with other residents' reports of the same "
        "problem. When it is resolved you get the same answer and review it yourself.",
    ),
    "track.following": ("合并办理的进度：{status}", "Progress of the joint handling: {status}"),
    "status.merged": ("已合并办理", "Merged with another request"),
    "event.Merged": ("已合并到另一件诉求", "Merged into another request"),
    "event.merged_public": (
        "与同一问题的其他反映合并办理",
        "Joined with other reports of the same problem",
    ),
    "event.Unmerged": (
        "已取消合并，恢复单独办理",
        "Taken out of the merge: handled on its own again",
    ),
    "event.unmerged_auto": (
        "合并的诉求被不予受理，本诉求恢复单独办理",
        "The request it followed was closed as out of scope: handled on its own again",
    ),
    "event.DuplicateAttached": (
        "一件重复诉求并入本诉求",
        "A duplicate was merged into this request",
    ),
    "event.DuplicateDetached": (
        "一件重复诉求已取消合并",
        "A duplicate was taken out of this request",
    ),
    "event.duplicate": ("诉求", "Request"),
    "event.merged_into": ("合并到", "Merged into"),
    "event.followed": ("随合并的诉求一并办结", "Resolved with the request it was merged into"),
    "reason.request_merged": (
        "该诉求已合并到另一件诉求，随其办理；如需单独办理，请先取消合并",
        "The request is merged into another and follows it; take it out of the merge to act on it",
    ),
    "reason.has_duplicates": (
        "已有其他诉求并入本诉求，请先取消它们的合并",
        "Other requests are merged into this one: take them out first",
    ),
    "reason.merge_into_self": ("不能合并到自身", "A request cannot be merged into itself"),
    "reason.primary_not_open": (
        "要并入的诉求已办结、已关闭或已合并到别处，请选择一件未办结的诉求",
        "The request to merge into is resolved, closed or merged itself: choose an open one",
    ),
    "reason.primary_not_found": (
        "找不到要并入的诉求，请检查编号",
        "No request with this id that you may see: check the id to merge into",
    ),
    "reason.primary_merging": (
        "要并入的诉求正在合并到别处，请稍后再试",
        "The request to merge into is being merged itself: try again shortly",
    ),
    "reason.already_merged": (
        "该诉求已并入这件诉求",
        "That request is merged into this one already",
    ),
    "reason.not_merged_into": (
        "该诉求并未合并到这件诉求",
        "That request is not merged into this one",
    ),
    "place.title": ("位置", "Location"),
    "place.hint": (
        "可选：地址、楼栋或门牌，以及地图坐标（纬度、经度）。地址只给办理您诉求的工作人员看。",
        "Optional: the address, the building or household, and map coordinates (latitude, "
        "longitude). Only the staff handling your request see the address.",
    ),
    "place.address": ("地址", "Address"),
    "place.building": ("楼栋 / 门牌", "Building or household"),
    "place.lat": ("纬度", "Latitude"),
    "place.long": ("经度", "Longitude"),
    "place.point": ("坐标 {lat}, {long}", "at {lat}, {long}"),
    "place.correct": ("更正位置", "Correct the location"),
    "place.address_changed": ("地址已更新", "The address was changed"),
    "place.building_changed": ("楼栋 / 门牌已更新", "The building or household was changed"),
    "place.corrected": ("位置已更正", "The location was corrected"),
    "place.reason": ("更正原因", "Why it is corrected"),
    "place.keep_hint": (
        "地址和楼栋留空则保持不变。",
        "Leave the address and building blank to keep them as they are.",
    ),
    "photos.title": ("照片", "Photos"),
    "photos.resident": ("照片（可选，最多 4 张）", "Photos (optional, at most 4)"),
    "photos.before": ("办理前照片（可选）", "Before photos (optional)"),
    "photos.after": ("办理后照片（可选）", "After photos (optional)"),
    "photos.hint": (
        "JPEG、PNG 或 WebP，每张不超过 8 MiB；照片中的位置等信息会被去除。",
        "JPEG, PNG or WebP, at most 8 MiB each; the location and other details inside a "
        "photo are removed.",
    ),
    "photos.alt.filed": ("居民上传的照片 {n}", "Photo {n} from the resident"),
    "photos.alt.before": ("办理前照片 {n}", "Before photo {n}"),
    "photos.alt.after": ("办理后照片 {n}", "After photo {n}"),
    "reason.photo_type": (
        "照片只能是 JPEG、PNG 或 WebP 图片",
        "A photo must be a JPEG, PNG or WebP image",
    ),
    "reason.photo_too_large": ("照片不能超过 8 MiB", "A photo may be at most 8 MiB"),
    "reason.too_many_photos": ("每次最多上传 4 张照片", "At most 4 photos at a time"),
    "reason.photo_unknown": (
        "找不到这张照片，请重新上传",
        "That photo was not found: upload it again",
    ),
    "reason.photo_not_found": ("该诉求没有这张照片", "This request has no such photo"),
    "reason.location_out_of_range": (
        "位置超出范围：纬度在 -90 到 90 之间，经度在 -180 到 180 之间",
        "The location is out of range: latitude -90 to 90, longitude -180 to 180",
    ),
    "reason.location_incomplete": (
        "纬度和经度要一起填写",
        "Give the latitude and the longitude together",
    ),
    "reason.text_too_long": ("内容太长", "The text is too long"),
    "reason.unknown_level": ("没有这个层级", "There is no such level"),
    "reason.unknown_metric": ("没有这个指标", "There is no such measure"),
    "reason.not_a_handler": (
        "只有办理人员有个人考核记录",
        "Only a handler has a record of their own",
    ),
    "reason.bad_period": (
        "期间无效：请填写月份（2026-11）、季度（2026Q4）或年份（2026），或早于结束日期的开始日期",
        "Not a period: give a month (2026-11), a quarter (2026Q4) or a year (2026), or a "
        "'from' before 'to'",
    ),
    "reason.role_required": ("您的身份无权进行此操作", "Your role may not do this"),
    "reason.sign_in": ("请先登录", "Sign in first"),
    "reason.token_invalid": (
        "登录已失效或已退出，请重新登录",
        "Your sign-in has expired or was signed out: sign in again",
    ),
    "reason.bad_credentials": ("用户名或密码错误", "Wrong username or password"),
    "reason.username_taken": ("该用户名已被使用", "This username is taken"),
    "reason.password_too_short": (
        "密码至少需要 10 个字符",
        "A password needs at least 10 characters",
    ),
    "reason.password_common": (
        "这是最常见的密码之一，请换一个",
        "This is one of the most common passwords: choose another",
    ),
    "reason.password_contains_username": (
        "密码不能包含用户名",
        "A password must not contain the username",
    ),
    "reason.too_many_attempts": (
        "登录失败次数过多，请 {retry_after} 秒后再试",
        "Too many failed log-ins: try again in {retry_after} seconds",
    ),
    "reason.wrong_password": ("原密码不正确", "The old password is wrong"),
    "reason.user_not_found": ("没有这个用户", "There is no such user"),
    "reason.nothing_to_change": (
        "没有要修改的内容：请填写要改的项",
        "Nothing to change: fill in what should change",
    ),
    "reason.disable_self": (
        "管理员不能停用自己的账号",
        "An admin cannot disable their own account",
    ),
    "reason.category_exists": (
        "该代码已被使用（停用的类别仍占用其代码，可将其恢复使用）",
        "This code is taken (a retired category keeps its code: restore it instead)",
    ),
    "reason.category_not_found": ("没有这个类别", "There is no such category"),
    "reason.bad_category_code": (
        "代码须为 2–40 个小写英文字母、数字或下划线",
        "A code is 2 to 40 lowercase letters, digits or underscores",
    ),
    "reason.bad_category_name": (
        "请填写名称（不超过 60 个字，不含控制字符）",
        "Give a name (at most 60 characters, no control characters)",
    ),
    "reason.bad_category_tier": (
        "请选择 1天、3天、5天或1个月",
        "Choose 1 day, 3 days, 5 days or 1 month",
    ),
    "reason.category_retired": (
        "该类别已停用，请选择其他类别",
        "This category is retired; choose another",
    ),
    "reason.organisation_required": (
        "协办单位人员须填写所属单位",
        "A partner needs the name of their organisation",
    ),
    "reason.dispatch_unit_required": (
        "派单员至少需要一个岗位（社区或镇街）",
        "A dispatcher needs at least one post: a community or a town",
    ),
    "reason.dispatch_unit_kind": (
        "派单员只能设在社区或镇街，不能设在网格",
        "A dispatcher is posted at a community or a town, not a grid",
    ),
    "reason.dispatch_units_not_allowed": (
        "只有派单员才有派单岗位",
        "Only dispatchers have dispatch posts",
    ),
    "reason.unknown_unit": ("没有这个单位", "There is no such unit"),
    "reason.unit_not_found": ("没有这个单位", "There is no such unit"),
    "reason.bad_dispatch_mode": (
        "派单方式须为“自动”（auto）或“人工”（manual）",
        "The dispatch mode is auto or manual",
    ),
    "reason.not_a_community": (
        "只有社区可以设置派单方式",
        "Only a community has a dispatch mode",
    ),
    "reason.date_outside_year": (
        "{date} 不在 {year} 年内",
        "{date} is not in {year}",
    ),
    "reason.duplicate_date": ("{date} 重复填写", "{date} is listed twice"),
    "reason.date_in_both": (
        "{date} 不能既是节假日又是调休上班日",
        "{date} cannot be both a holiday and a make-up working day",
    ),
    "reason.year_out_of_range": (
        "年份须在 {first} 至 {last} 之间",
        "The year must be between {first} and {last}",
    ),
    # ---- the working-day calendar (admins) --------------------------------------------
    "calendar.title": ("{year} 年工作日历", "Working days of {year}"),
    "calendar.intro": (
        "3 天、5 天层级的期限按工作日计算：周一至周五上班，法定节假日放假，"
        "调休日（周末）上班。本表填写的年份以本表为准，否则采用 chinese-calendar 包的数据；"
        "两者都没有的年份只按周一至周五计算。",
        "The 3-day and 5-day tiers count working days: Monday to Friday, except the "
        "statutory holidays, plus the make-up working days on weekends. For a year set "
        "here, this table is used; otherwise the chinese-calendar package's days; a year "
        "that neither knows counts Monday to Friday only.",
    ),
    "calendar.years": ("其他年份", "Other years"),
    "calendar.year": ("年份", "Year"),
    "calendar.go": ("查看", "Show"),
    "calendar.source": ("现行数据来源", "In force"),
    "calendar.source_table": ("本表（管理员设置）", "this table (set by an admin)"),
    "calendar.source_package": ("chinese-calendar 包", "the chinese-calendar package"),
    "calendar.source_none": ("无（仅按周一至周五）", "none (Monday to Friday only)"),
    "calendar.set_by": ("{who} 于 {at} 设置", "set by {who} on {at}"),
    "calendar.missing": (
        "chinese-calendar 包和本表都没有 {year} 年的节假日：期限只按周一至周五计算。"
        "请按国务院办公厅的节假日安排通知填写。",
        "Neither the chinese-calendar package nor this table knows the holidays of {year}: "
        "deadlines count Monday to Friday only. Enter them from the State Council's notice.",
    ),
    "calendar.package_unknown": (
        "chinese-calendar 包没有 {year} 年的数据。",
        "The chinese-calendar package has no data for {year}.",
    ),
    "calendar.days_caption": (
        "{year} 年的节假日与调休上班日：现行与 chinese-calendar 包对照",
        "Holidays and make-up working days of {year}: in force, and the package's",
    ),
    "calendar.date": ("日期", "Date"),
    "calendar.weekday": ("星期", "Day"),
    "calendar.in_force": ("现行", "In force"),
    "calendar.package": ("chinese-calendar 包", "chinese-calendar package"),
    "calendar.kind.holiday": ("放假", "Holiday"),
    "calendar.kind.workday": ("调休上班", "Make-up working day"),
    "calendar.kind.none": ("—", "—"),
    "calendar.differs": ("（不同）", "(differs)"),
    "calendar.no_days": ("没有节假日或调休上班日。", "No holidays or make-up working days."),
    "calendar.edit": ("修改本年", "Change this year"),
    "calendar.holidays": ("放假日期", "Holidays"),
    "calendar.workdays": ("调休上班日期（周末上班）", "Make-up working days (weekends worked)"),
    "calendar.format": (
        "每行一个日期，格式 YYYY-MM-DD。保存后以本表为准，替换该年的 chinese-calendar 数据；"
        "两栏都清空并保存，则恢复使用 chinese-calendar 包。",
        "One date a line, as YYYY-MM-DD. Once saved, this table replaces the package's days "
        "for the year; save both lists empty to go back to the chinese-calendar package.",
    ),
    "calendar.save": ("保存", "Save"),
    "calendar.saved": ("已保存工作日历", "The calendar is saved"),
    "weekday.0": ("周一", "Mon"),
    "weekday.1": ("周二", "Tue"),
    "weekday.2": ("周三", "Wed"),
    "weekday.3": ("周四", "Thu"),
    "weekday.4": ("周五", "Fri"),
    "weekday.5": ("周六", "Sat"),
    "weekday.6": ("周日", "Sun"),
    # ---- log-in ----------------------------------------------------------------------
    "login.title": ("工作人员登录", "Staff log-in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.resident_hint": (
        "居民反映问题无需登录：",
        "Residents do not need to log in to report a problem: ",
    ),
    # ---- the staff inbox (/inbox, the navigation's count) and its messages' sentences
    # (notice.<kind>, notify.inbox.text_of) -----------------------------------------------
    "nav.inbox": ("收件箱", "Inbox"),
    "inbox.nav_label": ("收件箱，{n} 条未读", "Inbox, {n} unread"),
    "inbox.announce": ("收件箱有 {n} 条未读消息", "Inbox: {n} unread messages"),
    "inbox.title": ("收件箱", "Inbox"),
    "inbox.intro": (
        "与您有关的交办、预警、催办和延期等消息，最新的在最前。",
        "What concerns you: assignments, warnings, urges, extensions and more, newest first.",
    ),
    "inbox.show": ("显示", "Show"),
    "inbox.all": ("全部消息", "All messages"),
    "inbox.unread_only": ("仅未读", "Unread only"),
    "inbox.count": ("{n} 条未读", "{n} unread"),
    "inbox.unread": ("未读", "Unread"),
    "inbox.read": ("已读", "Read"),
    "inbox.read_at": ("已读于 {at}", "Read {at}"),
    "inbox.open_request": ("查看诉求", "Open the request"),
    "inbox.mark_read": ("标为已读", "Mark read"),
    "inbox.mark_all": ("全部标为已读", "Mark all read"),
    "inbox.marked": ("已标为已读", "Marked read"),
    "inbox.all_marked": ("已全部标为已读", "All marked read"),
    "inbox.older": ("更早的消息", "Older messages"),
    "inbox.newest": ("回到最新消息", "Back to the newest"),
    "inbox.paging": ("翻页", "Pages"),
    "inbox.empty": ("暂无消息。", "No messages."),
    "inbox.empty_unread": ("没有未读消息。", "No unread messages."),
    "reason.inbox_message_not_found": (
        "收件箱里没有这条消息",
        "There is no such message in your inbox",
    ),
    "notice.assigned": (
        "{via}：{category}诉求交由{level}办理（{tier}）{due}",
        "{via}: {category}, {tier} ({level}){due}",
    ),
    "notice.via.filed": ("新诉求", "New request"),
    "notice.via.escalated": ("升级交办", "Escalated to you"),
    "notice.via.dispatched": ("平台分派", "Dispatched to you"),
    "notice.via.redirected": ("改派", "Redirected to you"),
    "notice.via.retiered": ("调整层级", "Re-tiered to you"),
    "notice.via.appealed": ("居民申诉，重新办理", "Appealed by the resident"),
    "notice.via.unmerged": ("取消合并，恢复单独办理", "Taken out of a merge: yours again"),
    "notice.via.other": ("交办", "Assigned"),
    "notice.due": ("，{at}前办结", ", due {at}"),
    "notice.note": ("：{text}", ": {text}"),
    "notice.someone": ("有人", "Someone"),
    "notice.waiting_dispatch": (
        "新诉求等待分派：{category}",
        "A new request waits for dispatch: {category}",
    ),
    "notice.warned": (
        "预警：{level}（{tier}）的诉求将于 {at} 到期",
        "Warning: the {tier} ({level}) deadline is at {at}",
    ),
    "notice.overdue": (
        "超期：{level}（{tier}）的诉求已于 {at} 超过时限",
        "Overdue: the {tier} ({level}) deadline passed at {at}",
    ),
    "notice.escalated_away": (
        "诉求已上报至{tier}（{level}）",
        "The request was escalated to {tier} ({level})",
    ),
    "notice.escalated_away_auto": (
        "{from_tier}时限已到，诉求自动升级至{tier}（{level}）",
        "The {from_tier} deadline passed: the request went up to {tier} ({level})",
    ),
    "notice.urged": ("{by}催办{note}", "Urged by {by}{note}"),
    "notice.extension_asked": (
        "{by}申请延期至 {until}{reason}",
        "{by} asks for more time, until {until}{reason}",
    ),
    "notice.extension_approved": ("{by}同意延期{due}", "{by} approved the extension{due}"),
    "notice.extension_refused": ("{by}未同意延期申请", "{by} refused the extension"),
    "notice.cohandler_added": ("{by}请您协办{note}", "{by} called you in to help{note}"),
    "notice.reopened": (
        "回访未通过，诉求重新由{level}办理（{tier}）{due}",
        "The review failed: reopened at {tier} ({level}){due}",
    ),
    "notice.review_due": (
        "居民自评期已于 {at} 结束，请电话回访",
        "The resident's self-review window closed at {at}: call for the review",
    ),
    "notice.review_due_resolved": (
        "居民自评期已过（办结于 {at}），请电话回访",
        "The resident's self-review window passed (resolved {at}): call for the review",
    ),
    "notice.other": ("有一条新消息（{kind}）", "A new message ({kind})"),
    # ---- statuses, tiers, levels, channels ---------------------------------------------
    "status.assigned": ("待签收", "Waiting to be accepted"),
    "status.in_progress": ("办理中", "In progress"),
    "status.resolved": ("待回访", "Resolved, awaiting review"),
    "status.closed": ("已闭环", "Closed"),
    "status.open": ("未办结", "Open"),
    "status.any": ("全部状态", "Any status"),
    "tier.1d": ("1天", "1 day"),
    "tier.3d": ("3天", "3 days"),
    "tier.5d": ("5天", "5 days"),
    "tier.1m": ("1个月", "1 month"),
    "tier.any": ("全部层级", "Any tier"),
    "tier_short.1d": ("1天", "1d"),
    "tier_short.3d": ("3天", "3d"),
    "tier_short.5d": ("5天", "5d"),
    "tier_short.1m": ("1个月", "1m"),
    "dim.completion": ("完成是否到位", "Completion"),
    "dim.progress": ("推进是否有力", "Progress"),
    "dim.effect": ("成效是否明显", "Effect"),
    "dim.satisfaction": ("群众是否满意", "Satisfaction"),
    "level.grid_worker": ("网格员", "Grid worker"),
    "level.grid_branch": ("网格党支部", "Grid party branch"),
    "level.community_committee": ("社区党委", "Community party committee"),
    "level.town_committee": ("镇党委", "Town party committee"),
    "way.grid_worker": ("立说立办", "said and done at once"),
    "way.grid_branch": ("协商共办", "negotiated together"),
    "way.community_committee": ("专题研办", "studied as a special topic"),
    "way.town_committee": ("协调督办", "coordinated and supervised"),
    "channel.app": ("小程序", "Mini-program"),
    "channel.hotline": ("热线电话", "Hotline call"),
    "channel.visit": ("入户走访", "Home visit"),
    "channel.walk_in": ("来访", "Walk-in"),
    "channel.open311": ("Open311 应用", "Open311 app"),
    "category.any": ("全部类别", "Any category"),
    "category.retired": ("{name}（已停用）", "{name} (retired)"),
    "unit.any": ("全部单位", "All units"),
    # ---- the timeline ----------------------------------------------------------------
    "event.Filed": ("登记受理", "Filed"),
    "event.Accepted": ("签收", "Accepted"),
    "event.ProgressNoted": ("办理进展", "Progress"),
    "event.Escalated": ("升级", "Escalated"),
    "event.MarkedOverdue": ("超期", "Overdue"),
    "event.Resolved": ("办结", "Resolved"),
    "event.Reviewed": ("回访", "Follow-up review"),
    "event.escalated_auto": (
        "{from_tier}时限已到，自动升级至{tier}（{level}）",
        "The {from_tier} deadline passed: up to {tier} ({level})",
    ),
    "event.escalated_manual": (
        "主动上报：{from_tier} → {tier}（{level}）",
        "Escalated by hand: {from_tier} → {tier} ({level})",
    ),
    "event.reason": ("理由", "Reason"),
    "event.note": ("进展", "Note"),
    "event.resolution": ("办理结果", "Resolution"),
    "event.comment": ("备注", "Comment"),
    "event.late": ("超过时限办结", "resolved after the deadline"),
    "by.resident": ("居民", "Resident"),
    "by.staff": ("工作人员", "Staff"),
    "by.system": ("系统", "System"),
    "outcome.closed": ("已闭环", "closed"),
    "outcome.reopened": ("退回重办", "reopened: back to work"),
    "outcome.attempt": ("未接通，已记一次", "not reached: attempt counted"),
    "outcome.unreachable": ("三次未接通，按无法联系闭环", "closed as unreachable"),
    "answer.yes": ("是", "Yes"),
    "answer.partly": ("部分", "Partly"),
    "answer.no": ("否", "No"),
    # ---- time ------------------------------------------------------------------------
    "time.left": ("剩余 {t}", "{t} left"),
    "time.overdue": ("已超时 {t}", "overdue by {t}"),
    "time.d": ("天", "d"),
    "time.h": ("小时", "h"),
    "time.m": ("分", "m"),
    "time.s": ("秒", "s"),
    "time.zone": ("北京时间", "China Standard Time"),
    "urgency.ok": ("时限内", "in time"),
    "urgency.warn": ("已过四分之三时限", "past 75% of its time"),
    "urgency.late": ("已超时", "overdue"),
    # ---- the board -------------------------------------------------------------------
    "board.title": ("督办看板", "Supervisor board"),
    "board.filters": ("筛选", "Filters"),
    "board.unit": ("单位（镇/社区/网格）", "Unit (town / community / grid)"),
    "board.tier": ("层级", "Tier"),
    "board.status": ("状态", "Status"),
    "board.category": ("类别", "Category"),
    "board.period": ("统计期间", "Period"),
    "board.from": ("起", "From"),
    "board.to": ("止", "To"),
    "board.apply": ("应用", "Apply"),
    "board.list": ("诉求列表", "Requests"),
    "board.count": ("共 {total} 条", "{total} in all"),
    "board.count_shown": ("共 {total} 条，显示前 {shown} 条", "{shown} of {total} shown"),
    "board.empty": ("没有符合条件的诉求。", "No request matches."),
    "board.col.request": ("诉求", "Request"),
    "board.col.grid": ("网格", "Grid"),
    "board.col.tier": ("层级", "Tier"),
    "board.col.level": ("责任层级", "Level"),
    "board.col.assignees": ("责任人", "Assignees"),
    "board.col.status": ("状态", "Status"),
    "board.col.time_left": ("剩余时间", "Time left"),
    "board.col.escalations": ("升级", "Escalations"),
    "board.legend": (
        "绿色●：时限内；黄色▲：已过四分之三时限；红色■：已超时",
        "Green ●: in time; yellow ▲: past 75% of the tier's time; red ■: overdue",
    ),
    # the board's map of open requests (web/static/board_map.js)
    "map.title": ("诉求地图", "Map of requests"),
    "map.region": (
        "诉求地图：可用方向键移动，用 Tab 键逐个选中诉求",
        "Map of requests: move it with the arrow keys, Tab to each request",
    ),
    "map.hint": (
        "地图上是有位置的诉求，形状和颜色表示状态；地图下方的表格列出同样的诉求。",
        "The requests that have a place, their state shown by shape and colour; "
        "the table below the map lists the same requests.",
    ),
    "map.legend": ("图例", "Legend"),
    "map.overdue": ("已超时（红圈和“!”）", "Overdue (red ring and “!”)"),
    "map.table": ("地图上的诉求", "The requests on the map"),
    "map.col.request": ("诉求", "Request"),
    "map.col.status": ("状态", "State"),
    "map.col.tier": ("层级", "Tier"),
    "map.col.grid": ("网格", "Grid"),
    "map.col.place": ("位置（纬度，经度）", "Place (latitude, longitude)"),
    "map.overdue_mark": ("已超时", "Overdue"),
    "map.count": ("地图上 {total} 件诉求", "{total} requests on the map"),
    "map.count_shown": (
        "共 {total} 件有位置的诉求，地图显示前 {shown} 件",
        "{total} requests with a place; the map shows the first {shown}",
    ),
    "map.without_point": (
        "另有 {n} 件没有位置，不在地图上",
        "{n} more have no place and are not on the map",
    ),
    "map.none": ("没有符合条件且有位置的诉求。", "No request that matches has a place."),
    "map.no_tiles": (
        "未配置地图底图：显示经纬网格（每条线间隔 {step}°）和诉求所在范围的外框。",
        "No map tiles are set: a latitude/longitude grid (lines every {step}°) "
        "and the box around the requests are drawn instead.",
    ),
    "map.tile_error": (
        "地图底图无法加载：改为显示经纬网格（每条线间隔 {step}°）和诉求所在范围的外框。",
        "The map tiles could not be loaded: a latitude/longitude grid "
        "(lines every {step}°) and the box around the requests are drawn instead.",
    ),
    "map.marker": (
        "{category}，{status}{overdue}，{grid}",
        "{category}, {status}{overdue}, {grid}",
    ),
    "map.marker_overdue": ("，已超时", ", overdue"),
    "map.open_request": ("打开诉求", "Open the request"),
    "board.export_list": ("导出列表（CSV）", "Export the list (CSV)"),
    "board.export_stats": ("导出统计（CSV）", "Export the figures (CSV)"),
    "board.quarantined": ("已隔离 {count} 个事件。", "Events quarantined: {count}."),
    "board.quarantined_effect": (
        "系统无法处理这些事件，相关诉求的最新变化暂未显示在看板和统计中。",
        "They could not be processed: the latest changes of their requests are not yet "
        "on the board or in the figures.",
    ),
    "board.quarantined_action": (
        "请运维人员排除原因后运行",
        "An operator should fix the cause, then run",
    ),
    "board.quarantined_action_end": ("。", "."),
    "fig.title": ("统计", "Figures"),
    "fig.charts": ("图表", "Charts"),
    "fig.received": ("受理", "Received"),
    "fig.merged": ("合并办理", "Merged into others"),
    "fig.closed": ("办结", "Closed"),
    "fig.completion_rate": ("办结率", "Completion rate"),
    "fig.on_time_rate": ("按时办结率", "On-time rate"),
    "fig.satisfaction_rate": ("满意率", "Satisfaction rate"),
    "fig.overdue": ("超期未办", "Overdue"),
    "fig.escalations": ("升级次数", "Escalations"),
    "fig.reviews_reached": ("回访接通", "Reviews reached"),
    "fig.dimensions": ("四个维度回访", "The four-dimension review"),
    "fig.escalations_by_tier": ("各层级升级", "Escalations by tier"),
    "fig.automatic": ("到期自动升级", "deadline passed"),
    "fig.manual": ("主动上报", "pushed up by hand"),
    "fig.rates_over_time": ("比率走势（按受理日期）", "Rates over time (by day received)"),
    "fig.by_tier": ("各层级在办诉求", "Open requests by tier"),
    "fig.per_grid": ("网格对比", "Grids compared"),
    "fig.no_data": ("暂无数据", "No data yet"),
    "fig.cohort_note": (
        "统计口径：期间内受理的诉求，按当前状态计算。",
        "Counted over the requests received in the period, as they stand now.",
    ),
    # ---- the assessment's pages: the league tables (/rankings), a unit's figures
    # (/rankings/unit), the worker's month (/me/month), the monthly report (/reports/monthly)
    "nav.rankings": ("三率排名", "League tables"),
    "nav.my_month": ("我的本月", "My month"),
    "nav.report_monthly": ("月度报告", "Monthly report"),
    "perf.count.assigned": ("到岗受理", "Assigned"),
    "perf.count.accepted": ("签收", "Accepted"),
    "perf.count.responded": ("按时签收", "Accepted in time"),
    "perf.count.resolved": ("办结", "Resolved"),
    "perf.count.resolved_on_time": ("按期办结", "Resolved on time"),
    "perf.count.resolved_kept": ("办结且未重办", "Resolved, not reopened"),
    "perf.count.reopened": ("被退回重办", "Reopened"),
    "perf.count.escalated_missed": ("超时升级", "Escalated: deadline missed"),
    "perf.count.escalated_hand": ("主动上报", "Escalated by hand"),
    "perf.count.overdue": ("超期", "Overdue"),
    "perf.count.returned": ("退单", "Returned"),
    "perf.count.redirected": ("改派", "Redirected"),
    "perf.count.urged": ("被催办", "Urged"),
    "perf.count.reviews_reached": ("回访接通", "Reviews reached"),
    "perf.count.reviews_satisfied": ("回访满意", "Reviews satisfied"),
    "perf.count.requests_reviewed": ("已回访诉求", "Requests reviewed"),
    "perf.count.requests_satisfied": ("满意诉求", "Requests satisfied"),
    "perf.rate.response_rate": ("响应率", "Response rate"),
    "perf.rate.resolution_rate": ("解决率", "Resolution rate"),
    "perf.rate.satisfaction_rate": ("满意率", "Satisfaction rate"),
    "perf.rate.satisfaction_rate_requests": ("满意率（按诉求）", "Satisfaction rate (per request)"),
    "perf.rate.on_time_rate": ("按期办结率", "On-time rate"),
    "perf.rate.reopen_rate": ("重办率", "Reopen rate"),
    "perf.rate.three_rates": ("三率均值", "Mean of the three rates"),
    "perf.rate_of": ("{n}/{d}", "{n} of {d}"),
    "perf.fraction_label": ("分子/分母", "numerator of denominator"),
    "perf.no_value": ("无数据", "no data"),
    "perf.hours": ("{h} 小时", "{h} hours"),
    "perf.resolve_p50": ("办结用时中位数", "Median time to resolve"),
    "perf.resolve_p90": ("办结用时 90% 分位", "90th percentile of the time to resolve"),
    "perf.resolve_count": ("计入的办结", "Resolutions counted"),
    "perf.counts": ("岗位计数", "Counts at the posts"),
    "perf.rates": ("各项比率", "Rates"),
    "perf.hours_title": ("办结用时", "Time to resolve"),
    "perf.counted_note": (
        "按诉求进入岗位的时间计入所选时段；每段岗位办理（受理、签收、办结、回访）各计一次。",
        "Counted by when a request reached the post, in the period chosen; each stay at a "
        "post (assigned, accepted, resolved, reviewed) counts once.",
    ),
    "perf.period": ("时段", "Period"),
    "perf.period_hint": (
        "月份如 2026-11，季度如 2026Q4，或年份如 2026",
        "A month (2026-11), a quarter (2026Q4) or a year (2026)",
    ),
    "perf.period_invalid": (
        "无法识别这个时段：请填写月份（2026-11）、季度（2026Q4）或年份（2026）",
        "That is not a period: write a month (2026-11), a quarter (2026Q4) or a year (2026)",
    ),
    "perf.show": ("查看", "Show"),
    "perf.week": ("周（起始日）", "Week (from)"),
    "perf.trend_table": ("各周三率（数据表）", "The three rates by week (table)"),
    "rank.title": ("三率排名", "League tables: the three rates"),
    "rank.intro": (
        "响应率、解决率、满意率（三率）按月排名；也可查看季度或全年。",
        "The response, resolution and satisfaction rates (三率), ranked by month; a quarter "
        "or a year may be chosen too.",
    ),
    "rank.level": ("排名层级", "Level"),
    "rank.level.grid": ("网格", "Grids"),
    "rank.level.community": ("社区", "Communities"),
    "rank.level.town": ("镇（街道）", "Towns"),
    "rank.metric": ("排名指标", "Ranked by"),
    "rank.floors": ("底线：{floors}。", "Floors: {floors}."),
    "rank.floors_marked": (
        "低于底线的单位在“底线”一栏注明“低于底线”，整行加粗并以斜纹底色显示。",
        'A unit below a floor says "Below the floor" in the Floors column, and its row is '
        "bold and hatched.",
    ),
    "rank.floor_item": ("{rate} {floor}", "{rate} {floor}"),
    "rank.caption": (
        "{level} · {period} · 按{metric}排名",
        "{level} · {period} · ranked by {metric}",
    ),
    "rank.previous": (
        "名次变化与上一期（{period}）相比。",
        "Changes are against the previous period ({period}).",
    ),
    "rank.flagged": ("低于底线的单位：{n} 个", "Units below a floor: {n}"),
    "rank.col.rank": ("名次", "Rank"),
    "rank.col.change": ("名次变化", "Change"),
    "rank.col.unit": ("单位", "Unit"),
    "rank.col.value": ("指标值", "Value"),
    "rank.col.floor": ("底线", "Floors"),
    "rank.unranked": ("无排名", "Unranked"),
    "rank.up_label": ("比上期上升 {n} 位", "up {n} places since the previous period"),
    "rank.down_label": ("比上期下降 {n} 位", "down {n} places since the previous period"),
    "rank.same": ("持平", "same"),
    "rank.same_label": ("与上期名次相同", "the same rank as the previous period"),
    "rank.new": ("新", "new"),
    "rank.new_label": ("上期无排名", "no rank in the previous period"),
    "rank.below": ("低于底线：{rates}", "Below the floor: {rates}"),
    "rank.at_floor": ("达到底线", "At or above the floors"),
    "rank.unmeasured": ("数据不足，无法比较", "Not enough data to compare"),
    "rank.empty": ("还没有这一层级的单位。", "There are no units of this level."),
    "rank.trend": (
        "近 12 周三率走势（全部单位）",
        "The three rates over the last 12 weeks (all units)",
    ),
    "rank.trend_unit": ("近 12 周三率走势", "The three rates over the last 12 weeks"),
    "rank.unit_link": ("{name}：查看详情", "{name}: its figures"),
    "rank.report_link": ("本月月度报告", "This month's report"),
    "rank.report_of_period": ("{month} 月度报告", "The report of {month}"),
    "rank.of": ("第 {rank} 名（共 {of} 个）", "Rank {rank} of {of}"),
    "unitfig.title": ("单位考核详情", "A unit's figures"),
    "unitfig.unit": ("单位", "Unit"),
    "unitfig.whole": ("全部单位", "The whole office"),
    "unitfig.unknown": (
        "没有这个单位，请从列表中选择",
        "There is no such unit: choose one from the list",
    ),
    "unitfig.standing": ("在{kind}中的排名", "Its rank among the {kind}"),
    "unitfig.children": ("下辖单位", "The units in it"),
    "unitfig.back": ("返回三率排名", "Back to the league tables"),
    "mymonth.title": ("我的本月", "My month"),
    "mymonth.intro": (
        "您签收的诉求，以及您岗位上尚无人签收的诉求，按到岗时间计入所选月份。",
        "The requests you accepted and the ones at your posts nobody has accepted yet, "
        "counted in the month they reached the post.",
    ),
    "mymonth.month": ("月份", "Month"),
    "mymonth.month_invalid": ("请选择一个月份，如 2026-11", "Choose a month, such as 2026-11"),
    "mymonth.counts": ("我的计数", "My counts"),
    "mymonth.rates": ("我的三率", "My three rates"),
    "mymonth.standing": ("我的网格排名", "Where my units stand"),
    "mymonth.standing_post": ("{level} · {unit}", "{level} · {unit}"),
    "mymonth.no_rank": (
        "本月暂无排名（还没有可计算的三率）",
        "No rank yet this month (no rates to rank by)",
    ),
    "mymonth.requests": ("计数背后的诉求", "The requests behind the counts"),
    "mymonth.empty": ("这个月还没有诉求到您的岗位。", "No request reached your posts this month."),
    "mymonth.reached": ("到岗", "Reached the post"),
    "mymonth.accepted": ("签收", "Accepted"),
    "mymonth.resolved": ("办结", "Resolved"),
    "mymonth.in_time": ("按时签收", "accepted in time"),
    "mymonth.late": ("超出响应时限签收", "accepted after the response window"),
    "mymonth.not_accepted": ("尚未签收", "not accepted yet"),
    "mymonth.on_time": ("按期", "on time"),
    "mymonth.after_deadline": ("超期", "after the deadline"),
    "mymonth.outcome": ("本岗结果", "At this post"),
    "mymonth.more": ("还有更多诉求未列出", "More requests are not listed"),
    "stint.ended.": ("仍在本岗位", "still at the post"),
    "stint.ended.escalated": ("超时升级", "went up: the deadline passed"),
    "stint.ended.escalated_hand": ("已上报", "pushed up by hand"),
    "stint.ended.retiered": ("已调整层级", "moved to another tier"),
    "stint.ended.redirected": ("已改派", "redirected to another grid"),
    "stint.ended.returned": ("已退单", "returned to the platform"),
    "stint.ended.out_of_scope": ("不予受理", "closed as out of scope"),
    "stint.ended.reopened": ("被退回重办", "reopened by a review"),
    "stint.ended.closed": ("已闭环", "closed"),
    "report.title": ("月度报告", "Monthly report"),
    "report.heading": ("{unit} · {month} 月度报告", "Monthly report · {unit} · {month}"),
    "report.month": ("月份", "Month"),
    "report.unit": ("单位", "Unit"),
    "report.show": ("生成报告", "Show the report"),
    "report.download": ("下载 Excel 文件", "Download the Excel file"),
    "report.print": ("打印", "Print"),
    "report.print_hint": (
        "打印时不显示导航，各部分分页。",
        "Printed without the navigation, each section on its own page.",
    ),
    "report.made_at": ("生成时间：{at}", "Made {at}"),
    "report.whole": ("全部单位", "The whole office"),
    "report.month_invalid": (
        "无法识别这个月份：请填写如 2026-11 的月份",
        "That is not a month: write one such as 2026-11",
    ),
    "report.unit_unknown": (
        "没有这个单位，请从列表中选择",
        "There is no such unit: choose one from the list",
    ),
    "report.sec.posts": ("岗位计数与三率", "The posts: counts and rates"),
    "report.sec.posts_note": (
        "按诉求进入岗位的时间计入本月，与三率排名口径相同。",
        "Counted by when a request reached a post in the month, as the league tables count.",
    ),
    "report.sec.received": ("本月收到的诉求", "Requests received in the month"),
    "report.sec.received_note": (
        "本月收到的诉求，按当前状态计算，与督办看板口径相同。",
        "The requests received in the month, as they stand now, as the board counts them.",
    ),
    "report.sec.grids": ("各网格三率", "The grids' three rates"),
    "report.sec.grids_note": (
        "名次为全部 {of} 个有排名的网格中的名次（按三率均值）。",
        "The rank is among all {of} ranked grids (by the mean of the three rates).",
    ),
    "report.sec.weeks": ("本月每周三率", "The three rates week by week"),
    "report.sec.requests": ("超期与重办的诉求", "Overdue and reopened requests"),
    "report.sec.requests_note": (
        "本月到岗后超期或被退回重办的诉求。报告不含居民姓名、电话和诉求描述。",
        "The requests that were overdue or reopened at a post they reached in the month. The "
        "report holds no resident's name, phone or description.",
    ),
    "report.requests_more": (
        "仅显示前 {shown} 件，共 {total} 件；完整清单见 Excel 文件。",
        "The first {shown} of {total}; the Excel file lists them all.",
    ),
    "report.requests_empty": (
        "本月没有超期或重办的诉求。",
        "No request was overdue or reopened this month.",
    ),
    "report.grids_empty": ("这个单位下没有网格。", "There is no grid in this unit."),
    "report.grids_chart": ("各网格三率", "The grids' three rates"),
    "report.yes": ("是", "yes"),
    "report.no": ("否", "no"),
    "report.col.measure": ("指标", "Measure"),
    "report.col.value": ("数值", "Value"),
    "report.col.numerator": ("分子", "Numerator"),
    "report.col.denominator": ("分母", "Denominator"),
    "report.col.key": ("代码", "Key"),
    "report.col.numerator_of": ("{name}（分子）", "{name} (numerator)"),
    "report.col.denominator_of": ("{name}（分母）", "{name} (denominator)"),
    "report.hours_p50": ("办结用时中位数（小时）", "Median time to resolve (hours)"),
    "report.hours_p90": (
        "办结用时 90% 分位（小时）",
        "90th percentile of the time to resolve (hours)",
    ),
    "report.col.id": ("诉求编号", "Request"),
    "report.col.grid": ("网格", "Grid"),
    "report.col.community": ("社区", "Community"),
    "report.col.category": ("类别", "Category"),
    "report.col.status": ("状态", "Status"),
    "report.col.deadline": ("本级时限", "Deadline"),
    "report.col.escalations": ("升级次数", "Escalations"),
    "report.col.reopens": ("重办次数", "Reopens"),
    "report.col.overdue_here": ("本月超期", "Overdue this month"),
    "report.col.reopened_here": ("本月被重办", "Reopened this month"),
    "report.col.rank": ("名次", "Rank"),
    "report.col.change": ("较上月", "Change since last month"),
    "report.col.below": ("低于底线", "Below the floor"),
    "report.sheet.figures": ("总体指标", "figures"),
    "report.sheet.grids": ("各网格", "grids"),
    "report.sheet.requests": ("超期与重办", "overdue and reopened"),
    "report.section.posts": (
        "岗位计数与三率（按到岗时间）",
        "The posts: counts and rates (by when requests reached them)",
    ),
    "report.section.received": (
        "本月收到的诉求（按当前状态）",
        "Requests received in the month (as they stand now)",
    ),
    "report.fig.satisfied": ("回访满意", "Satisfied reviews"),
    "report.fig.closed_unreached": ("未接通闭环", "Closed unreachable"),
    "report.fig.out_of_scope": ("不予受理", "Closed as out of scope"),
    "report.fig.completion_rate_reached": ("办结率（接通闭环）", "Completion rate (reached)"),
    "report.fig.returned": ("退单", "Returned"),
    "report.fig.redirected": ("改派", "Redirected"),
    "report.fig.urged": ("催办", "Urged"),
    "report.fig.warned": ("预警", "Warned"),
    "report.fig.extensions_asked": ("申请延期", "Extensions asked"),
    "report.fig.extensions_approved": ("批准延期", "Extensions approved"),
    # ---- the worker's tasks ----------------------------------------------------------
    "tasks.title": ("我的任务", "My tasks"),
    "tasks.empty": ("暂无待办诉求。", "Nothing to do right now."),
    "tasks.accept": ("签收", "Accept"),
    "tasks.progress": ("添加进展", "Add a progress note"),
    "tasks.progress_note": ("进展说明", "Progress note"),
    "tasks.escalate": ("上报", "Escalate"),
    "tasks.escalate_reason": ("上报理由", "Reason for escalating"),
    "tasks.resolve": ("办结", "Resolve"),
    "tasks.resolve_resolution": ("办理结果", "Resolution"),
    "tasks.reopens": ("退回重办 {n} 次", "reopened {n}×"),
    "tasks.resident": ("居民", "Resident"),
    "tasks.accepted": ("已签收", "Accepted"),
    "tasks.noted": ("进展已记录", "Note added"),
    "tasks.escalated": ("已上报至上一级", "Escalated one level up"),
    "tasks.resolved": ("已办结，转入回访", "Resolved: off to the follow-up call"),
    "file.title": ("代居民登记（热线 / 走访）", "File for a resident (hotline / home visit)"),
    "file.channel": ("来源", "Channel"),
    "file.name": ("居民姓名", "Resident's name"),
    "file.phone": ("居民电话", "Resident's phone"),
    "file.filed": ("已登记，已交办。", "Filed and handed out."),
    "file.track_link": (
        "居民跟踪链接（可短信发给居民）：",
        "The resident's tracking link (send it by text message): ",
    ),
    # ---- follow-ups ------------------------------------------------------------------
    "followups.title": ("回访队列", "Follow-up queue"),
    "followups.empty": ("暂无待回访诉求。", "No request waits for a follow-up call."),
    "followups.self_waiting": (
        "另有 {n} 件诉求在居民自评期内，期满未评价的将进入本队列。",
        "{n} more wait for the residents' own review; those not reviewed in time join this queue.",
    ),
    "followups.call": ("致电", "Call"),
    "followups.resolved_at": ("办结时间", "Resolved"),
    "followups.attempts": ("已未接通 {n} 次（共 {max} 次机会）", "{n} of {max} calls unanswered"),
    "followups.reached": ("是否接通", "Was the resident reached?"),
    "followups.reached_yes": ("已接通", "Reached"),
    "followups.reached_no": ("未接通", "Not reached"),
    "followups.dimensions": ("四个维度", "The four dimensions"),
    "followups.comment": ("备注", "Comment"),
    "followups.submit": ("提交回访结果", "Record the review"),
    "followups.outcomes": ("刚刚记录", "Just recorded"),
    # ---- the resident ----------------------------------------------------------------
    "resident.title": ("我要反映", "Report a problem"),
    "resident.intro": (
        "小事不出格、大事不出网。提交后，网格员 1 天内办理；办不了的逐级上报"
        "（网格党支部 3 天、社区党委 5 天、镇党委 1 个月），办结后回访，您满意才闭环。",
        "Small matters stay in the grid. Your grid worker handles it within a day; what they "
        "cannot settle goes up (grid party branch 3 days, community party committee 5 days, "
        "town party committee a month). After it is resolved we call you: only your review "
        "closes it.",
    ),
    "resident.grid": ("所在网格", "Your grid"),
    "resident.category": ("问题类别", "What kind of problem"),
    "resident.description": ("问题描述", "Describe the problem"),
    "resident.name": ("您的称呼", "Your name"),
    "resident.phone": ("联系电话", "Your phone number"),
    "resident.submit": ("提交", "Send"),
    "request.masked": ("（已隐去）", "(masked)"),
    "request.urgent": ("⚠ 居民标记紧急", "⚠ Marked urgent by the resident"),
    "resident.urgent": (
        "情况紧急（如漏水、断电、安全隐患）",
        "This is urgent (a leak, no power, a hazard)",
    ),
    "request.reveal": ("查看完整联系方式", "Show the full contact"),
    "request.reveal_reason": ("查看原因（将被记录）", "Why you need it (it is recorded)"),
    "request.reveal_hint": (
        "查看记录（谁、何时、哪条诉求、原因）督办员均可查阅。",
        "Who looked, when, at which request and why is kept, and supervisors can list it.",
    ),
    "request.reveal_submit": ("查看", "Show"),
    "request.revealed": ("已显示完整联系方式，本次查看已记录。", "Shown; this look is recorded."),
    "resident.filed": ("已受理，我们会尽快办理。", "Received: we are on it."),
    "resident.track_link": ("办理进度请看：", "Follow it here: "),
    "resident.keep_link": (
        "请保存此链接：凭链接即可查看进度，请勿转发给他人。",
        "Keep this link: whoever has it can see the progress, so do not share it.",
    ),
    "resident.privacy": (
        "您的电话只给办理和回访人员看，用于联系您。",
        "Only the staff handling and reviewing your request see your phone number.",
    ),
    # ---- the category catalogue (admins) ----------------------------------------------
    "catalogue.title": ("诉求类别目录", "Request categories"),
    "catalogue.intro": (
        "居民反映问题时可选的类别及其默认办理层级。停用的类别不再受理新的诉求，已受理的诉求保留原类别。",
        "The categories residents choose from when they report a problem, and the tier each "
        "starts on. A retired category takes no new requests; requests filed in it keep it.",
    ),
    "catalogue.count": ("共 {n} 个类别，{active} 个使用中", "{n} categories, {active} active"),
    "catalogue.code": ("代码", "Code"),
    "catalogue.code_hint": (
        "2–40 个小写英文字母、数字或下划线，如 lift_fault；新增后不能修改",
        "2 to 40 lowercase letters, digits or underscores, like lift_fault; it cannot change later",
    ),
    "catalogue.name_zh": ("中文名称", "Chinese name"),
    "catalogue.name_en": ("英文名称", "English name"),
    "catalogue.default_tier": ("默认办理层级", "Default tier"),
    "catalogue.status": ("状态", "Status"),
    "catalogue.active": ("使用中", "Active"),
    "catalogue.retired": ("已停用", "Retired"),
    "catalogue.changed": ("最后修改：{who}，{at}", "Last changed by {who}, {at}"),
    "catalogue.add": ("新增类别", "Add a category"),
    "catalogue.added": ("已新增类别", "Category added"),
    "catalogue.edit": ("修改", "Edit"),
    "catalogue.save": ("保存修改", "Save changes"),
    "catalogue.saved": ("已保存", "Saved"),
    "catalogue.retire": ("停用", "Retire"),
    "catalogue.restore": ("恢复使用", "Restore"),
    "catalogue.retired_done": ("类别已停用", "Category retired"),
    "catalogue.restored": ("类别已恢复使用", "Category restored"),
    # ---- SMS to residents (admins: /admin/sms; notify.sms) ------------------------------
    "nav.sms": ("短信设置", "SMS"),
    "sms.title": ("短信通知设置", "SMS to residents"),
    "sms.intro": (
        "诉求办结后，系统给居民发短信，附办理进度链接和自评链接。在这里选择发送方式、"
        "修改各类短信的模板，也可以发一条测试短信。",
        "When a request is resolved, closeloop texts the resident the tracking link and the "
        "self-review link. Choose how messages are sent, edit each message's template, and "
        "send a test.",
    ),
    "sms.gateway": ("短信网关", "SMS gateway"),
    "sms.gateway_set": ("已配置（短信签名：{sign}）", "configured (signature: {sign})"),
    "sms.gateway_unset": (
        "未配置：在运行环境中设置 CLOSELOOP_SMS_GATEWAY_URL 后才能通过网关发送",
        "not configured: set CLOSELOOP_SMS_GATEWAY_URL where closeloop runs to send through a "
        "gateway",
    ),
    "sms.quiet_hours": ("免打扰时段", "Quiet hours"),
    "sms.quiet": (
        "{start}–{end}（{zone}）：这段时间不给居民发短信，结束后再发",
        "{start}–{end} ({zone}): no texts to residents then; they go when it ends",
    ),
    "sms.quiet_off": ("未设置：任何时间都会发送", "off: texts go at any hour"),
    "sms.provider": ("发送方式", "Provider"),
    "sms.provider.log": ("记录到文件", "Write to a file"),
    "sms.provider.log_hint": (
        "不真正发送：每条短信写入数据目录下的 sms/sms.log（手机号打码），用于演示和测试。",
        "Sends nothing: each message is written to sms/sms.log in the data folder (the phone "
        "masked), for demos and tests.",
    ),
    "sms.provider.http": ("短信网关", "SMS gateway"),
    "sms.provider.http_hint": (
        "把模板编号和参数提交给配置的短信网关（阿里云、腾讯云等短信服务的形式）。",
        "Posts the template code and its parameters to the configured gateway (the shape of "
        "Aliyun, Tencent Cloud and other SMS services).",
    ),
    "sms.template.resolved": ("诉求办结（附自评链接）", "Resolved, with the self-review link"),
    "sms.template.resolved_no_review": (
        "诉求办结（不附自评链接）",
        "Resolved, without a self-review",
    ),
    "sms.template.test": ("测试短信", "Test message"),
    "sms.text": ("短信内容", "Text"),
    "sms.placeholders": ("可用的占位符：", "Placeholders it may use:"),
    "sms.placeholder.tracking_link": ("办理进度链接", "the tracking link"),
    "sms.placeholder.review_link": ("自评链接", "the self-review link"),
    "sms.placeholder.review_until": (
        "自评截止时间（本地时间）",
        "until when the resident may review (local time)",
    ),
    "sms.placeholder.sent_at": ("发送时间（本地时间）", "when it is sent (local time)"),
    "sms.code": ("网关模板编号", "Gateway template code"),
    "sms.code_hint": (
        "该模板在短信网关审核通过后的编号，默认 {code}",
        "The template's code at the gateway (approved there); by default {code}",
    ),
    "sms.changed": ("最后修改：{who}，{at}", "Last changed by {who}, {at}"),
    "sms.save": ("保存设置", "Save settings"),
    "sms.test": ("发送测试短信", "Send a test message"),
    "sms.test_hint": (
        "立即按当前发送方式发一条“测试短信”，不受免打扰时段限制。请填写中国大陆手机号。",
        "Sends the test message now through the provider in force, whatever the hour. A "
        "mainland China mobile number.",
    ),
    "sms.test_phone": ("手机号", "Mobile number"),
    "sms.test_send": ("发送", "Send"),
    "sms.test_sent": ("测试短信已发出", "The test message went out"),
    "sms.test_failed": ("测试短信没有发出：{error}", "The test message did not go: {error}"),
    "sms.test_status": ("（网关返回状态 {status}）", "(gateway status {status})"),
    "reason.sms_template_placeholder": (
        "模板中有不能识别的占位符 {placeholder}；可用：{allowed}",
        "Unknown placeholder {placeholder}; this template may use: {allowed}",
    ),
    "reason.sms_template_empty": ("模板内容不能为空", "A template must say something"),
    "reason.sms_template_too_long": (
        "模板最多 {max} 个字",
        "A template holds at most {max} characters",
    ),
    "reason.sms_template_unknown": ("没有这个短信模板", "There is no such SMS template"),
    "reason.sms_template_code_invalid": (
        "模板编号只能由字母、数字和 _ . - 组成，最长 64 位",
        "A template code is up to 64 letters, digits, _ . or -",
    ),
    "reason.sms_provider_unknown": (
        "请选择“记录到文件”或“短信网关”",
        "Choose writing to a file or the SMS gateway",
    ),
    "reason.sms_gateway_missing": (
        "尚未配置短信网关地址（CLOSELOOP_SMS_GATEWAY_URL），不能选择网关发送",
        "No gateway is configured (CLOSELOOP_SMS_GATEWAY_URL): it cannot be chosen",
    ),
    "reason.sms_phone_invalid": (
        "请填写 11 位中国大陆手机号",
        "Enter an 11-digit mainland China mobile number",
    ),
    # ---- webhook subscriptions (admins: /admin/webhooks) and their refusals ----------------
    "nav.webhooks": ("事件推送", "Webhooks"),
    "webhooks.title": ("事件推送（Webhook）", "Webhooks"),
    "webhooks.intro": (
        "外部系统订阅事件类型后，每发生一件该类型的事件，就会收到一次带签名的 JSON 推送；"
        "失败时按设置自动重试，超时后放弃。",
        "An outside system subscribed to event types is sent each event of those types as "
        "signed JSON; a failed delivery is tried again as the settings say, then given up.",
    ),
    "webhooks.count": ("共 {n} 个订阅", "{n} subscription(s)"),
    "webhooks.empty": ("还没有订阅。", "No subscriptions yet."),
    "webhooks.add": ("新增订阅", "Add a subscription"),
    "webhooks.added": ("已新增订阅", "Subscription added"),
    "webhooks.url": ("接收地址（URL）", "Receiver's URL"),
    "webhooks.url_hint": (
        "以 http:// 或 https:// 开头的公网地址，如 https://example.com/closeloop",
        "A public address starting with http:// or https://, like https://example.com/closeloop",
    ),
    "webhooks.events": ("推送的事件", "Events to send"),
    "webhooks.events_hint": (
        "至少选择一项；选“全部事件”则以后新增的事件类型也会推送。",
        "Choose at least one; “Every event” also sends event types added later.",
    ),
    "webhooks.events_list": ("推送事件：{events}", "Events: {events}"),
    "webhooks.every": ("全部事件（*）", "Every event (*)"),
    "webhooks.secret": ("签名密钥", "Signing secret"),
    "webhooks.secret_hint": (
        "{min}–{max} 个字符。接收方用它校验 X-Closeloop-Signature 请求头；保存后不再显示。",
        "{min} to {max} characters. The receiver checks the X-Closeloop-Signature header "
        "with it; it is never shown again.",
    ),
    "webhooks.include_pii": (
        "推送内容包含居民姓名和电话",
        "Include the resident's name and phone",
    ),
    "webhooks.include_pii_hint": (
        "仅在接收方有权处理居民个人信息时勾选；不勾选时，推送内容不含这些信息。",
        "Tick it only if the receiver may hold residents' personal data; otherwise they are "
        "left out of what is sent.",
    ),
    "webhooks.pii_yes": ("含居民个人信息", "With residents' personal data"),
    "webhooks.pii_no": ("不含居民个人信息", "Without residents' personal data"),
    "webhooks.created": ("{who} 创建于 {at}", "Added by {who}, {at}"),
    "webhooks.last": ("最近一次：{state}（{at}）", "Latest: {state} ({at})"),
    "webhooks.no_deliveries": ("尚无推送", "Nothing sent yet"),
    "webhooks.deliveries": ("最近的推送", "Latest deliveries"),
    "webhooks.attempts": ("尝试 {n} 次", "{n} attempt(s)"),
    "webhooks.next_attempt": ("下次重试 {at}", "Next try {at}"),
    "webhooks.request": ("查看诉求", "Open the request"),
    "webhooks.state.waiting": ("等待发送", "Waiting"),
    "webhooks.state.failed": ("失败，将重试", "Failed, will retry"),
    "webhooks.state.sent": ("已送达", "Delivered"),
    "webhooks.state.dead": ("已放弃", "Given up"),
    "webhooks.delete": ("删除订阅", "Delete"),
    "webhooks.delete_confirm": (
        "确定删除这个订阅吗？删除后不再推送，已有的推送记录仍会保留。",
        "Delete this subscription? Nothing more is sent to it; its past deliveries stay listed.",
    ),
    "webhooks.delete_submit": ("确认删除", "Yes, delete it"),
    "webhooks.deleted": ("订阅已删除", "Subscription deleted"),
    # ---- Open311 API keys (admins: /admin/open311) ----------------------------------------
    "nav.open311": ("Open311 密钥", "Open311 keys"),
    "open311.title": ("Open311 接口密钥", "Open311 API keys"),
    "open311.intro": (
        "其他应用可通过标准的 Open311 GeoReport v2 接口（/open311/v2/）查询诉求和提交诉求。"
        "查询无需密钥，且不含居民的姓名、电话和诉求描述；提交需要管理员发放的密钥，"
        "提交的诉求进入所选网格所在社区的待分派队列，由分派员分派。",
        "Other applications read and file requests through the standard Open311 GeoReport "
        "v2 interface (/open311/v2/). Reading needs no key and never shows residents' names, "
        "phones or descriptions; filing needs a key issued here, and the requests it files "
        "wait in the dispatch queue of the chosen grid's community.",
    ),
    "open311.count": ("共 {n} 个密钥，{live} 个有效", "{n} key(s), {live} in use"),
    "open311.empty": ("还没有发放密钥。", "No keys issued yet."),
    "open311.issue": ("发放密钥", "Issue a key"),
    "open311.issued": ("已发放密钥", "Key issued"),
    "open311.name": ("应用名称", "Application's name"),
    "open311.name_hint": (
        "使用这个密钥的应用或单位，便于日后辨认和吊销。",
        "Who will use the key, so it can be recognised and revoked later.",
    ),
    "open311.grid": ("提交到的网格", "Grid it files into"),
    "open311.grid_choose": ("请选择网格", "Choose a grid"),
    "open311.grid_hint": (
        "Open311 不含网格：用这个密钥提交的诉求进入该网格所在社区的待分派队列。",
        "Open311 names no grid: the requests filed with this key wait in this grid's "
        "community's dispatch queue.",
    ),
    "open311.new_key": ("“{name}”的密钥：", "The key for “{name}”:"),
    "open311.new_key_once": (
        "密钥只显示这一次，系统只保存它的摘要。请现在复制并交给应用方。",
        "The key is shown only now; only its digest is kept. Copy it and hand it over now.",
    ),
    "open311.files_into": ("提交到：{grid}", "Files into: {grid}"),
    "open311.created": ("{who} 发放于 {at}", "Issued by {who}, {at}"),
    "open311.revoked_by": ("{who} 吊销于 {at}", "Revoked by {who}, {at}"),
    "open311.state_live": ("有效", "In use"),
    "open311.state_revoked": ("已吊销", "Revoked"),
    "open311.revoke": ("吊销密钥", "Revoke"),
    "open311.revoke_confirm": (
        "确定吊销这个密钥吗？吊销立即生效，使用它的提交都会被拒绝；记录仍会保留。",
        "Revoke this key? It stops working at once; filings with it are refused. It stays listed.",
    ),
    "open311.revoke_submit": ("确认吊销", "Yes, revoke it"),
    "open311.revoked": ("密钥已吊销", "Key revoked"),
    "reason.webhook_url_scheme": (
        "地址须以 http:// 或 https:// 开头",
        "The URL must start with http:// or https://",
    ),
    "reason.webhook_url_invalid": (
        "请填写完整的网址：含主机名，不含用户名和密码，不超过 2000 个字符",
        "Give a whole URL: with a host, without a user name or password, at most 2000 characters",
    ),
    "reason.webhook_url_private": (
        "该地址指向本机或内网（{address}），只能推送到公网地址",
        "This URL points at a loopback or private address ({address}): webhooks go to "
        "public addresses only",
    ),
    "reason.webhook_url_unresolved": (
        "找不到这个主机名，请检查拼写",
        "This host name has no address: check its spelling",
    ),
    "reason.webhook_events_required": (
        "请至少选择一种事件",
        "Choose at least one event type",
    ),
    "reason.webhook_unknown_event": ("未知的事件类型：{event}", "Unknown event type: {event}"),
    "reason.webhook_secret_length": (
        "密钥须为 16–200 个字符",
        "The secret is 16 to 200 characters long",
    ),
    "reason.webhook_not_found": ("没有这个订阅", "There is no such subscription"),
    # ---- tracking --------------------------------------------------------------------
    "track.title": ("诉求办理进度", "Your request"),
    "track.status": ("当前状态", "Status"),
    "track.level": ("当前办理层级", "Handled by"),
    "track.deadline": ("本级办理时限", "Due at this level"),
    "track.filed_at": ("受理时间", "Received"),
    "track.grid": ("网格", "Grid"),
    "track.not_found": (
        "没有找到这条诉求，请检查链接是否完整。",
        "No request has this link; check that it is complete.",
    ),
    # ---- the contact card and the resident's own review (/track), the staff's own
    # profile and work phone (/profile)
    "track.contacts_title": ("办理人员", "Who handles it"),
    "track.contacts_call": ("拨打 {phone}", "Call {phone}"),
    "track.contacts_no_phone": ("未留工作电话", "No work phone given"),
    "track.contacts_hint": (
        "以上为当前办理层级的工作人员，电话均为工作电话。",
        "The staff at the level handling your request now; the numbers are work numbers.",
    ),
    "track.review_title": ("请您评价办理结果", "Review how it was handled"),
    "track.review_by": (
        "请在 {until} 前评价；逾期将由回访员电话回访。",
        "Please review by {until}; after that a caller will phone you.",
    ),
    "track.review_passed": (
        "自行评价的时间已过，回访员会给您打电话。",
        "The time for your own review has passed; a caller will phone you.",
    ),
    "track.review_comment": ("其他意见（可选）", "Anything else (optional)"),
    "track.review_submit": ("提交评价", "Send my review"),
    "track.review_closed": (
        "感谢您的评价，此诉求已办结闭环。",
        "Thank you for your review: the request is closed.",
    ),
    "track.review_reopened": (
        "感谢您的反馈，我们将重新办理此诉求。",
        "Thank you for telling us: we will handle it again.",
    ),
    "event.self_reviewed": ("居民自评", "The resident's own review"),
    "event.ReviewWindowClosed": (
        "居民自评期限已过，转回访员电话回访",
        "The time for the resident's own review passed: a caller will phone",
    ),
    "event.LocationCorrected": ("位置已更正", "The location was corrected"),
    "reason.review_window_closed": (
        "自行评价的时间已过，回访员会给您打电话。",
        "The time for your own review has passed; a caller will phone you.",
    ),
    "reason.self_review_off": (
        "本平台暂不开放居民自行评价，回访员会给您打电话。",
        "Residents do not review requests themselves here; a caller will phone you.",
    ),
    "reason.work_phone_invalid": (
        "请填写手机号或带区号的座机号，如 0539-1234567（有分机：0539-1234567-123）",
        "Give a mobile number or a landline with its area code, such as 0539-1234567 "
        "(with an extension: 0539-1234567-123)",
    ),
    "nav.profile": ("我的资料", "My profile"),
    "profile.title": ("我的资料", "My profile"),
    "profile.name": ("姓名", "Name"),
    "profile.username": ("用户名", "Username"),
    "profile.role": ("身份", "Role"),
    "profile.work_phone_title": ("工作电话", "Work phone"),
    "profile.work_phone_shown": (
        "居民在您办理的诉求进度页上，会看到您的姓名、职务和这个电话，以便联系您。",
        "Residents see your name, your role and this number on the tracking page of the "
        "requests you handle, so that they can reach you.",
    ),
    "profile.work_phone_never_home": (
        "只填写工作号码（办公座机或工作手机），切勿填写家庭电话或私人号码。",
        "Give a work number only (an office landline or a work mobile), never a home phone "
        "or a private number.",
    ),
    "profile.work_phone": ("工作电话（可不填）", "Work phone (optional)"),
    "profile.work_phone_format": (
        "手机号（11 位）或带区号的座机号，如 0539-1234567，分机接在后面：0539-1234567-123。"
        "清空后保存即删除。",
        "A mobile number (11 digits) or a landline with its area code, such as 0539-1234567; "
        "an extension after it: 0539-1234567-123. Empty the field and save to remove it.",
    ),
    "profile.save": ("保存", "Save"),
    "profile.saved": ("工作电话已保存", "Work phone saved"),
    # ---- the assessment (/assessment, /assessment/workers/{username}) ------------------
    "nav.assessment": ("考核", "Assessment"),
    "assess.title": ("网格员考核", "Grid worker assessment"),
    "assess.intro": (
        "按考核方案，由每名网格员的响应率、解决率、满意率和按时办结率计算得分，加上督办人员的"
        "加减分后评定等次（优秀、称职、基本称职、不称职）。点击表头按该列排序。",
        "Each grid worker's points come from their response, resolution, satisfaction and "
        "on-time rates under the scheme; supervisors' adjustments are added, and the final "
        "points give the grade (excellent, competent, basically competent, incompetent). "
        "Sort by a column with the button in its header.",
    ),
    "assess.period": ("考核期间", "Period"),
    "assess.period_hint": (
        "季度如 2026Q4，年度如 2026，月份如 2026-11；留空为本季度。",
        "A quarter such as 2026Q4, a year such as 2026 or a month such as 2026-11; empty: "
        "this quarter.",
    ),
    "assess.from": ("起", "From"),
    "assess.to": ("止", "To"),
    "assess.period_is": ("考核期间：{period}", "Period: {period}"),
    "assess.scheme": ("考核方案", "The scheme"),
    "assess.scheme_default": (
        "默认方案（管理员尚未修改）。",
        "The default scheme (no admin changed it).",
    ),
    "assess.scheme_changed": ("{who} 于 {at} 修改。", "Changed by {who} on {at}."),
    "assess.indicator": ("指标", "Indicator"),
    "assess.weight": ("权重", "Weight"),
    "assess.zero_at": ("0 分线", "0 points at"),
    "assess.full_at": ("满分线", "100 points at"),
    "assess.scheme_grades": ("等次：", "Grades:"),
    "assess.threshold": ("{grade} ≥ {points} 分；", "{grade} from {points} points;"),
    "assess.scheme_else": ("其余为不称职。", "below them, incompetent."),
    "assess.scheme_quota": (
        "优秀名额上限：{quota}。",
        "Largest share of excellent grades: {quota}.",
    ),
    "assess.quota_none": ("不限", "none"),
    "assess.scheme_min": (
        "受理少于 {n} 件的不评定等次（数据不足）。",
        "Fewer than {n} assigned stints: no grade (insufficient data).",
    ),
    "assess.scheme_how": (
        "每项指标在 0 分线及以下得 0 分，满分线及以上得 100 分，其间按比例计分；得分为各指标"
        "按权重的加权平均。某项指标没有数据（如没有回访）时不计入，其权重由其他指标按比例分担。"
        "加减分后得分限定在 0 到 100 之间。管理员可通过 PUT /api/v1/assessment/scheme 修改方案。",
        "Each indicator earns 0 points at or below its 0-point line, 100 at or above its "
        "full line, and in proportion between; the points are the weighted mean of the "
        "indicators. An indicator without data (no review reached, say) is left out and the "
        "others share its weight. After adjustments the points stay within 0 to 100. Admins "
        "change the scheme with PUT /api/v1/assessment/scheme.",
    ),
    "assess.grade_counts": ("{period} 各等次人数", "Grades in {period}"),
    "assess.ungraded_count": ("数据不足", "Insufficient data"),
    "assess.quota_text": (
        "优秀名额：{graded} 名参评人员中至多 {places} 名；{capped} 名因名额已满评为称职。",
        "Excellent: at most {places} of the {graded} graded workers; {capped} graded "
        "competent because the quota was full.",
    ),
    "assess.quota_off": ("优秀等次不限名额。", "No quota for excellent grades."),
    "assess.not_adjustable": (
        "加减分按月、季度或年度记录：请选择这样的期间后再加减分。",
        "Adjustments belong to a month, a quarter or a year: choose one to adjust points.",
    ),
    "assess.table_caption": ("{period} 网格员考核结果", "Grid workers' assessment, {period}"),
    "assess.sort_hint": (
        "表头中的按钮可按该列排序，再按一次反向排序。",
        "The buttons in the headers sort by their column; press again to reverse.",
    ),
    "assess.sorted_asc": ("已按“{column}”升序排列", "Sorted by {column}, ascending"),
    "assess.sorted_desc": ("已按“{column}”降序排列", "Sorted by {column}, descending"),
    "assess.col.rank": ("名次", "Rank"),
    "assess.col.worker": ("网格员", "Grid worker"),
    "assess.col.computed": ("计算得分", "Computed points"),
    "assess.col.adjustment": ("加减分", "Adjustments"),
    "assess.col.final": ("最终得分", "Final points"),
    "assess.col.grade": ("等次", "Grade"),
    "assess.assigned": ("受理 {n} 件", "{n} assigned"),
    "assess.points": ("{n} 分", "{n} points"),
    "assess.left_out": ("无数据，不计入", "no data: left out"),
    "assess.capped": ("优秀名额已满", "excellent quota full"),
    "assess.ungraded.insufficient_data": ("数据不足", "Insufficient data"),
    "assess.ungraded.no_values": ("无可计分数据", "No rate to score"),
    "assess.adjust": ("加减分", "Adjust points"),
    "assess.adjust_points": ("分值（-20 到 +20）", "Points (-20 to +20)"),
    "assess.adjust_points_hint": (
        "整数，加分为正、减分为负，不能为 0，绝对值不超过 {max}。",
        "A whole number, positive to add and negative to take off, not 0, at most {max} "
        "either way.",
    ),
    "assess.adjust_reason": ("理由", "Reason"),
    "assess.adjust_reason_hint": (
        "必填，最多 {max} 字，如：民主测评结果、入户走访情况。",
        "Required, at most {max} characters: a democratic appraisal, home visits...",
    ),
    "assess.adjust_submit": ("记录加减分", "Record the adjustment"),
    "assess.adjusted": ("加减分已记录", "Adjustment recorded"),
    "assess.adjusted_by": ("{who} · {at}", "{who} · {at}"),
    "assess.withdrawn_by": ("已由 {who} 于 {at} 撤销", "withdrawn by {who} on {at}"),
    "assess.withdraw": ("撤销", "Withdraw"),
    "assess.withdraw_hint": (
        "撤销后不再计分，记录保留。",
        "A withdrawn adjustment stops counting; the record stays.",
    ),
    "assess.withdraw_confirm": ("确认撤销", "Withdraw it"),
    "assess.withdrawn_done": ("加减分已撤销", "Adjustment withdrawn"),
    "assess.empty": ("这里没有网格员。", "No grid workers here."),
    "assess.worker_title": ("{name}的考核", "Assessment of {name}"),
    "assess.back": ("返回考核总表", "Back to the assessment"),
    "assess.summary": ("得分与等次", "Points and grade"),
    "assess.rank_of": ("第 {rank} 名（共 {of} 名）", "{rank} of {of}"),
    "assess.indicators": ("各项指标", "Indicators"),
    "assess.rate_value": ("比率", "Rate"),
    "assess.fraction": ("分子/分母", "Numerator/denominator"),
    "assess.points_col": ("得分", "Points"),
    "assess.share": ("实际权重", "Share"),
    "assess.adjustments": ("加减分记录", "Adjustments"),
    "assess.counts": ("各项计数", "Counts"),
    "assess.rates": ("各项比率", "Rates"),
    "assess.resolve_hours": ("办结用时中位数（小时）", "Median hours to resolve"),
    "assess.p90": ("90% 在 {hours} 小时内", "90% within {hours} hours"),
    "assess.requests": ("计数所依据的诉求", "The requests behind the counts"),
    "assess.requests_count": ("共 {n} 段办理。", "{n} stints."),
    "assess.requests_shown": (
        "显示最近的 {shown} 段，共 {total} 段。",
        "The latest {shown} of {total} stints shown.",
    ),
    "assess.requests_hint": (
        "每段是诉求在一个岗位的一次办理；“计入”列出它计入的各项计数。",
        "Each stint is one stay of a request at a post; the last column lists the counts it "
        "goes into.",
    ),
    "assess.no_requests": ("这一期间没有诉求。", "No requests in this period."),
    "assess.col.request": ("诉求", "Request"),
    "assess.col.post": ("岗位", "Post"),
    "assess.col.started": ("到达岗位", "Reached the post"),
    "assess.col.accepted": ("签收", "Accepted"),
    "assess.col.resolved": ("办结", "Resolved"),
    "assess.col.ended": ("结果", "How it ended"),
    "assess.col.counts": ("计入", "Counts for"),
    "assess.untouched": ("（无人签收）", "(nobody accepted it)"),
    "assess.in_window": ("及时", "in time"),
    "assess.late": ("超时", "late"),
    "assess.on_time": ("按时", "on time"),
    "assess.overdue": ("超期", "late"),
    "assess.open": ("办理中", "Still at the post"),
    "assess.ended.escalated": ("超时上报", "Went up: deadline passed"),
    "assess.ended.escalated_hand": ("主动上报", "Pushed up by hand"),
    "assess.ended.retiered": ("调整层级", "Moved to another tier"),
    "assess.ended.redirected": ("改派", "Redirected"),
    "assess.ended.returned": ("退单", "Returned"),
    "assess.ended.out_of_scope": ("不予受理", "Out of scope"),
    "assess.ended.reopened": ("回访不满意，重办", "Reopened by a review"),
    "assess.ended.closed": ("办结闭环", "Closed"),
    "assess.rate.response_rate": ("响应率", "Response rate"),
    "assess.rate.resolution_rate": ("解决率", "Resolution rate"),
    "assess.rate.satisfaction_rate": ("满意率", "Satisfaction rate"),
    "assess.rate.satisfaction_rate_requests": ("满意率（按诉求）", "Satisfaction rate (requests)"),
    "assess.rate.on_time_rate": ("按时办结率", "On-time rate"),
    "assess.rate.reopen_rate": ("重办率", "Reopen rate"),
    "assess.count.assigned": ("受理", "Assigned"),
    "assess.count.accepted": ("签收", "Accepted"),
    "assess.count.responded": ("及时响应", "Responded in time"),
    "assess.count.resolved": ("办结", "Resolved"),
    "assess.count.resolved_on_time": ("按时办结", "Resolved on time"),
    "assess.count.resolved_kept": ("办结未重办", "Resolved, not reopened"),
    "assess.count.reopened": ("重办", "Reopened"),
    "assess.count.escalated_missed": ("超时上报", "Went up: deadline passed"),
    "assess.count.escalated_hand": ("主动上报", "Pushed up by hand"),
    "assess.count.overdue": ("超期", "Overdue"),
    "assess.count.returned": ("退单", "Returned"),
    "assess.count.redirected": ("改派", "Redirected"),
    "assess.count.urged": ("被催办", "Urged"),
    "assess.count.reviews_reached": ("回访接通", "Reviews reached"),
    "assess.count.reviews_satisfied": ("回访满意", "Reviews satisfied"),
    "assess.count.requests_reviewed": ("诉求已回访", "Requests reviewed"),
    "assess.count.requests_satisfied": ("诉求满意", "Requests satisfied"),
    "reason.bad_adjustment_points": (
        "分值须为 -20 到 +20 之间的整数，且不能为 0",
        "Points must be a whole number from -20 to +20, not 0",
    ),
    "reason.reason_too_long": ("理由不能超过 500 字", "The reason may be at most 500 characters"),
    "reason.unknown_user": (
        "没有这名参加考核的网格员",
        "No grid worker who is assessed has this name",
    ),
    "reason.not_your_record": ("只能查看本人的考核", "You may read your own assessment only"),
    "reason.adjustment_not_found": ("没有这条加减分记录", "There is no such adjustment"),
    "reason.scheme_invalid": (
        "考核方案有误，请检查标出的项",
        "The scheme breaks a rule: see the field named",
    ),
    # ---- the request page ------------------------------------------------------------
    "request.title": ("诉求详情", "Request"),
    "request.description": ("问题描述", "Description"),
    "request.resident": ("居民", "Resident"),
    "request.channel": ("来源", "Channel"),
    "request.grid": ("网格", "Grid"),
    "request.deadline": ("本级时限", "Deadline at this level"),
    "request.created": ("受理时间", "Received"),
    "request.actions": ("办理", "Handle it"),
    "request.review": ("回访", "Follow-up review"),
    # ---- hot spots (主动治理) and the month's topics (每月一题): /hotspots, the board ------
    "nav.hotspots": ("热点诉求", "Hot spots"),
    "unit.kind.town": ("镇（街道）", "Town"),
    "unit.kind.community": ("社区", "Community"),
    "unit.kind.grid": ("网格", "Grid"),
    "hotspots.title": ("热点诉求 · 主动治理", "Hot spots"),
    "hotspots.intro": (
        "按类别和网格统计期间内收到的诉求，与之前同样长的一段时间比较。同一网格同一类别的诉求"
        "在规定天数内达到规定件数，即标为“重复”。可把一处热点设为每月一题，从根上解决。",
        "Requests received in the period, by category and grid, against the period of the same"
        " length before it. A category that reaches the set number of requests in one grid"
        " within the set days is marked a repeat. A hot spot can be made the month's topic"
        " (每月一题), to be solved at its root.",
    ),
    "hotspots.repeat_rule": ("重复的标准", "What counts as a repeat"),
    "hotspots.repeat_count": ("至少（件）", "At least (requests)"),
    "hotspots.repeat_days": ("天数以内", "Within (days)"),
    "hotspots.summary": (
        "{start} 至 {end}（{days} 天）：共收到 {count} 件，之前同期 {previous} 件，{change}；"
        "重复 {repeats} 处。",
        "{start} to {end} ({days} days): {count} requests received, {previous} in the period"
        " before, {change}; repeats: {repeats}.",
    ),
    "hotspots.table": ("按类别和网格", "By category and grid"),
    "hotspots.count": ("共 {total} 处", "{total} in all"),
    "hotspots.count_shown": ("共 {total} 处，显示前 {shown} 处", "{shown} of {total} shown"),
    "hotspots.empty": ("这段时间没有收到诉求。", "No request was received in this period."),
    "hotspots.col.category": ("类别", "Category"),
    "hotspots.col.grid": ("网格", "Grid"),
    "hotspots.col.count": ("本期", "This period"),
    "hotspots.col.previous": ("之前同期", "Period before"),
    "hotspots.col.change": ("变化", "Change"),
    "hotspots.col.repeat": ("重复", "Repeat"),
    "hotspots.col.repeats": ("重复处数", "Repeats"),
    "hotspots.col.topic": ("每月一题", "Month's topic"),
    "hotspots.place": ("{community} · {town}", "{community} · {town}"),
    "hotspots.change_new": ("新出现", "new"),
    "hotspots.change_same": ("持平", "no change"),
    "hotspots.repeat_yes": (
        "▲ 重复：{days} 天内 {n} 件（{first} 至 {last}）",
        "▲ Repeat: {n} within {days} days ({first} to {last})",
    ),
    "hotspots.repeat_no": ("否", "No"),
    "hotspots.by_category": ("按类别合计", "Totals by category"),
    "hotspots.make_topic": ("设为每月一题", "Make it the month's topic"),
    "hotspots.topic_unit": ("范围", "Where"),
    "hotspots.topic_unit_grid": ("网格：{name}", "The grid: {name}"),
    "hotspots.topic_unit_community": ("整个社区：{name}", "The whole community: {name}"),
    "hotspots.topic_month": ("月份", "Month"),
    "hotspots.topic_title": ("题目", "Title"),
    "hotspots.topic_note": ("说明（要解决什么、怎么做）", "Note (what to solve, and how)"),
    "hotspots.topic_title_default": ("{place}{category}问题", "{category} in {place}"),
    "hotspots.topic_made": ("已设为每月一题", "Made the month's topic"),
    "hotspots.is_topic": ("✓ {month} 一题", "✓ Topic of {month}"),
    "topics.title": ("{month} 每月一题", "Topics of {month} (每月一题)"),
    "topics.board_title": ("本月一题（{month}）", "This month's topics ({month})"),
    "topics.empty": ("{month} 还没有设定一题。", "No topic for {month} yet."),
    "topics.board_empty": ("本月还没有设定一题。", "No topic for this month yet."),
    "topics.board_link": ("查看热点诉求", "See the hot spots"),
    "topics.where": ("{kind}：{unit} · {category}", "{kind}: {unit} · {category}"),
    "topics.made_by": ("{who} 于 {at} 设定", "Made by {who} at {at}"),
    "topics.closed": ("{who} 于 {at} 结束", "Closed by {who} at {at}"),
    "topics.open": ("进行中", "Open"),
    "topics.closed_state": ("已结束", "Closed"),
    "topics.close": ("结束此题", "Close this topic"),
    "topics.closed_done": ("已结束此题", "Topic closed"),
    "topics.month_pick": ("每月一题的月份", "Month of the topics"),
    "reason.bad_month": (
        "月份的格式为“年-月”，如 2026-11（2000-01 至 2100-12）",
        "Write the month as YYYY-MM, e.g. 2026-11 (2000-01 to 2100-12)",
    ),
    "reason.topic_unit_kind": (
        "每月一题只能设在网格或社区",
        "A month's topic is set on a grid or a community",
    ),
    "reason.topic_exists": (
        "这个单位的这个类别已是该月的一题",
        "This category in this unit is already a topic of that month",
    ),
    "reason.topic_not_found": ("没有找到这个题目", "There is no such topic"),
    "reason.topic_closed": ("这个题目已经结束", "This topic was closed already"),
}


#: code -> (Chinese name, English name) of the seed's categories.
SEED_NAMES: dict[str, tuple[str, str]] = {code: (zh, en) for code, (_, zh, en) in SEED.items()}


def category_label(
    category: str, lang: str, names: Mapping[str, tuple[str, str]] | None = None
) -> str:
    """The category's name in ``lang`` from ``names`` (code -> (Chinese, English), the
    catalogue's; the seed's when None); the code itself when it has no name there."""
    entry = (SEED_NAMES if names is None else names).get(category)
    if entry is None:
        return category
    return entry[0] if lang == ZH else entry[1]


def dimension_question(dimension: str, lang: str) -> str:
    """The review question as the caller asks it: always with the Chinese wording."""
    chinese, english = DIMENSIONS[dimension]
    return chinese if lang == ZH else f"{english} ({chinese})"


@dataclass(frozen=True)
class Translator:
    """``t("key", name=value)`` in one language; unknown keys come back as themselves.
    ``categories`` names the categories (code -> (Chinese, English), from the catalogue);
    None: the seed's names."""

    lang: str
    categories: Mapping[str, tuple[str, str]] | None = field(default=None, compare=False)

    def __call__(self, key: str, **values: Any) -> str:
        entry = STRINGS.get(key)
        if entry is None:
            return key
        text = entry[0] if self.lang == ZH else entry[1]
        return text.format(**values) if values else text

    def category(self, category: str) -> str:
        return category_label(category, self.lang, self.categories)

    def question(self, dimension: str) -> str:
        return dimension_question(dimension, self.lang)

    def script_strings(self) -> dict[str, str]:
        """The strings the page's script needs (errors, countdowns, outcomes, live state)."""
        prefixes = (
            "error.",
            "field.",
            "reason.",
            "time.",
            "outcome.",
            "live.",
            "common.",
            "tasks.",
            "catalogue.",
            "inbox.",
            "map.",
        )
        keys = [k for k in STRINGS if k.startswith(prefixes)]
        keys += ["file.filed", "file.track_link", "resident.filed", "resident.track_link"]
        keys += ["resident.keep_link", "nav.login", "request.revealed", "calendar.saved"]
        keys += ["dup.merged", "merge.unmerged"]
        keys += ["dispatch.done", "partner.noted", "partner.marked_done", "track.appeal_sent"]
        keys += ["webhooks.added", "webhooks.deleted", "hotspots.topic_made", "topics.closed_done"]
        keys += ["assess.adjusted", "assess.withdrawn_done", "open311.issued", "open311.revoked"]
        return {k: self(k) for k in keys}


def pick_language(query: str | None, cookie: str | None) -> str:
    """``?lang=`` first, then the cookie, then Chinese."""
    for candidate in (query, cookie):
        if candidate:
            lowered = candidate.strip().lower()
            if lowered in ("en", "en-us", "en-gb", "english"):
                return EN
            if lowered in ("zh", "zh-cn", "cn", "chinese"):
                return ZH
    return DEFAULT_LANGUAGE

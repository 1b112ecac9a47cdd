"""The help of the `sangao` command line in one place: each command's description as a Chinese and
English pair, its example written once (the same in both languages), each option's and argument's
help as a pair, and the lists of roster formats and suffixes made from the readers' registry
(store/readers/formats.py). cli.py chooses the language.

Light to import (the command line reads it at every start): the standard library and the format
registry only; Typer's help layout is imported when a help screen is shown in Chinese.
"""

from __future__ import annotations

from store.readers.formats import formats_help, suffixes_help

# The app and its groups: no example.
GROUPS: dict[str, tuple[str, str]] = {
    "": ("三高共管 六病同防 照护路径引擎。", "三高共管 六病同防 care-pathway engine."),
    "roster": ("导入、导出和生成患者花名册。", "Import, export and generate patient rosters."),
    "guidelines": ("检查、测试、比较指南集，并查看其规则。",
                   "Check, test, diff and document guideline sets."),
    "report": ("质控报表：月报与指标明细。",
               "Quality-control reports: the monthly report and the patients behind an indicator."),
}

# command path → (Chinese, English, example). "{formats}" is the list of roster formats.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "roster import": (
        "把花名册文件导入数据库：校验，按 patient_id 新增或更新，报告被拒绝的行。\n\n"
        "FILE 可以是 {formats}。同一目录下一起给出的 CSV 文件（或直接给出该目录）构成一套花名册，"
        "按患者编号关联：患者表，加上随访、化验、筛查、既往史和转诊表。表的识别：先看站点映射的 "
        "`tables:` 条目，再看文件名或工作表名（visits.csv / 随访.csv，labs / 化验 / 检验，screenings / "
        "筛查，history / 既往史，referrals / 转诊，patients / 患者 / 档案），最后看表头（有 性别 或 "
        "出生日期 的是患者表）。\n\n"
        "含患者表的文件是登记册（谁在管理、从何时起）；"
        "随访或体检的扁平导出是事件文件：它只为已登记的人添加带日期的随访、化验和筛查，从不改写他们；"
        "登记册之外的人只报告、不新建（--mapping 中的 `role:` 可另行指定；登记册文件先导入）。见 "
        "docs/importing.md。\n\n"
        "扁平随访导出（每次随访一行、同一人重复出现、无患者编号）按身份证号归并为患者（15 "
        "位旧身份证号自动升位）；patient_id 由身份证号派生（地区码 + 哈希）。所患疾病取自某一列、"
        "文件的表单（高血压…/糖尿病… 或 --mapping 中的 `form:`）或 `defaults:`；纳入管理日期取自某一列、"
        "`defaults:` 或首次随访。国家表单的代码（性别 1/2、症状 1–9、此次随访分类、药物不良反应 1无 2有、"
        "足背动脉搏动、既往史 …）已内置，--mapping 的 `values:` 可覆盖。双臂血压需写 `bp_arm: "
        "left|right|higher`；尿微量白蛋白（mg/L）绝不当作尿白蛋白肌酐比读取。请先运行 `sangao roster "
        "inspect` 得到映射建议。\n\n"
        "表头可以是中文（患者编号、身份证号、姓名、性别、出生日期、随访日期、收缩压、舒张压、血压 "
        "150/90、空腹血糖、糖化血红蛋白、低密度脂蛋白胆固醇、肌酐、尿白蛋白肌酐比 …，可在括号中带单位，"
        "可读两行合并表头），也可以是交换格式字段名。文本可以是 UTF-8（带或不带 BOM）或 "
        "GB18030/GBK/GB2312，汇总中注明是哪一种。\n\n"
        "每个文件（CSV 组、工作簿、压缩包）是一个事务。无法使用的行被拒绝，并给出文件、行、列、"
        "值和正确写法（--rejects 把它们写入 CSV）；值映射不认识的编码值按列列出并计数；"
        "不合理的值和未来日期会报告并保留。有任何行被拒绝时退出码为 1。",
        "Import roster files into the database: validate, upsert by patient_id, report rejects.\n\n"
        "FILE may be {formats}. CSV files of one directory named together (or the directory itself) form "
        "one roster set, joined on the patient id: a patients table plus visits, labs, screenings, "
        "history and referrals tables. A table is recognised by the site mapping's `tables:` entry, else "
        "by its file or sheet name (visits.csv / 随访.csv, labs / 化验 / 检验, screenings / 筛查, "
        "history / 既往史, referrals / 转诊, patients / 患者 / 档案), else by its headers (性别 or "
        "出生日期 make the patients table).\n\n"
        "A file with a patients table is a register (who is enrolled, since when); a flat export of "
        "follow-ups or health checks is an events file: it adds dated visits, labs and screenings to "
        "registered people, never rewrites them, and reports people outside the register instead of "
        "creating them (`role:` in --mapping says otherwise; register files are imported first). See "
        "docs/importing.md.\n\n"
        "Flat visit exports (one row per follow-up, the person repeated, no patient number) are grouped "
        "into patients by resident ID (身份证号; legacy 15-digit IDs upgraded); the patient_id is "
        "derived from it (area code + hash). Conditions come from a column, the form of the file "
        "(高血压…/糖尿病… or `form:` in --mapping) or `defaults:`; enrolled_on from a column, "
        "`defaults:` or the first visit. The national forms' codes (性别 1/2, 症状 1–9, 此次随访分类, "
        "药物不良反应 1无 2有, 足背动脉搏动, 既往史 …) are built in; --mapping `values:` overrides them. "
        "Blood pressure for both arms needs `bp_arm: left|right|higher`; 尿微量白蛋白 (mg/L) is never "
        "read as UACR. Run `sangao roster inspect` first to get a proposed mapping.\n\n"
        "Headers may be Chinese (患者编号, 身份证号, 姓名, 性别, 出生日期, 随访日期, 收缩压, 舒张压, "
        "血压 150/90, 空腹血糖, 糖化血红蛋白, 低密度脂蛋白胆固醇, 肌酐, 尿白蛋白肌酐比 …, units in "
        "brackets allowed, two-row merged headers read) or the interchange field names. Text may be "
        "UTF-8 (with or without BOM) or GB18030/GBK/GB2312; the summary states which.\n\n"
        "Each file (CSV set, workbook, archive) is one transaction. Rows that cannot be used are "
        "rejected with file, row, column, value and what would be right (--rejects writes them to a "
        "CSV); values no value map knows are listed per column with counts; implausible values and "
        "future dates are reported and kept. Exit status 1 when anything was rejected.",
        "sangao roster import roster.jsonl --db sangao.db --as-of 2026-11-30 --rejects rejects.csv",
    ),
    "roster inspect": (
        "读取站点导出文件的表头和部分数据行，提出映射文件建议：每个文件的角色（登记册：人员档案；"
        "事件：随访和体检），每一列将如何处理及原因（已识别、已映射、忽略、未知），"
        "值映射不认识的每个编码值（附计数），以及只有站点能做的决定（双臂血压、只靠代码后缀区分的列、"
        "随访文件的表单）。修改后用 --mapping 导入。仍有待决定的事项或文件无法读取时退出码为 1。",
        "Read the headers and a sample of rows of a site's export and propose a mapping file: each "
        "file's role (register: the person file; events: follow-ups and health checks), every column "
        "with what it will do and why (recognised, mapped, ignored, unknown), every coded value no value "
        "map knows (with counts), and the decisions only the site can make (two-arm blood pressure, "
        "columns only a code suffix tells apart, the form of a visits file). Edit it, then import with "
        "--mapping. Exit status 1 when something is left to decide or a file cannot be read.",
        "sangao roster inspect 个人档案.xlsx 高血压随访.zip 健康体检.xlsx --out site.yaml",
    ),
    "roster export": (
        "以交换格式写出库中全部患者，每行一个 JSON 对象。\n\n"
        "输出可往返：导入它得到同样的数据库，导出已导入的文件得到同样的对象（缺省的可选字段仍缺省，"
        "列表按日期排序）。\n\n"
        "--format parquet 写出一个文件夹：按患者编号哈希分成 --buckets 个 Parquet 文件（每位患者及其全部数据"
        "只在一个文件中）和 manifest.json，供 sangao assess --executor dask 读取（docs/scale.md）。",
        "Write every stored patient in the interchange format, one JSON object per line.\n\n"
        "The output round-trips: importing it gives the same database, and exporting an imported file "
        "gives the same objects (absent optional fields absent, lists in date order).\n\n"
        "--format parquet writes a folder: --buckets Parquet files by a hash of the patient id (each "
        "patient with all their data in one file) and manifest.json, for sangao assess --executor dask "
        "(docs/scale.md).",
        "sangao roster export --db sangao.db --format jsonl --out roster.jsonl",
    ),
    "roster generate": (
        "生成一份逼真的模拟花名册（山东姓名、身份证号、随访记录）。\n\n"
        "所有日期都不晚于 --as-of；相同的 --patients、--seed 和 --as-of 生成逐字节相同的文件。"
        "最前面的患者各演示一种情形（紧急读数、失访、从未筛查 …）。",
        "Write a realistic synthetic roster (Shandong names, resident IDs, follow-up histories).\n\n"
        "Every date is on or before --as-of; the same --patients, --seed and --as-of give the same "
        "bytes. The first patients show one situation each (urgent reading, lost to follow-up, never "
        "screened …).",
        "sangao roster generate --patients 1000 --seed 7 --as-of 2026-11-30 --out roster.jsonl",
    ),
    "assess": (
        "在 --as-of 日期把每位患者分为红/黄/蓝。表格最紧急的排在前面，末尾是各颜色人数（写入文件或输出 "
        "JSONL/CSV 时，人数也打印到 stderr）。",
        "Stratify every patient red/yellow/blue at --as-of. The table lists the most urgent first and "
        "ends with the colour counts (also printed, to stderr, when writing a file or JSONL/CSV).",
        "sangao assess --roster roster.jsonl --as-of 2026-11-30 --color red --team 市北区-家医团队12",
    ),
    "explain": (
        "这位患者为什么是这个颜色：触发的每条规则、它读取的数值、出处条款，以及差一点触发的规则。"
        "可用患者编号、姓名或身份证号查找患者。",
        "Why this patient has this colour: every rule that fired, the values it read, its source clause, "
        "and the rules that almost fired. The patient is found by patient id, name or resident ID.",
        "sangao explain 370202-000456 --as-of 2026-11-30",
    ),
    "worklist": (
        "一个团队在一段时间内要见或要联系的人：到期、逾期（天数、上次联系）、新出现的红标及其转诊、"
        "转诊未回、到期或逾期的筛查、无读数、失访。最紧急的排在前面。",
        "Whom a team sees or calls in a period: due, overdue (days, last contact), new reds and their "
        "referrals, referrals not back, screenings due or overdue, no reading, lost to follow-up. Most "
        "urgent first.",
        "sangao worklist --team 市北区-家医团队12 --week --as-of 2026-11-30",
    ),
    "plan": (
        "从 --from 起 12 个月的年度一体化照护计划：颜色、分级和团队；控制目标；落在工作日的每次随访日期；"
        "六病筛查日程；转诊指征；生活方式与健康教育；与库中上一份计划相比的变化。在 --out 中写出 "
        "plans.html（每位患者一页 A4）、plans.pdf、appointments.csv，以及每个团队一个 ICS 日历。",
        "Annual integrated care plans (一体化照护计划) for 12 months from --from: colour, tier and team; "
        "targets; every follow-up date on working days; the six-complication screening calendar; "
        "referral triggers; lifestyle and education; what changed since the stored previous plan. Writes "
        "plans.html (one A4 page per patient), plans.pdf, appointments.csv and one ICS calendar per team "
        "into --out.",
        "sangao plan 370203-000001 --as-of 2026-11-30 --format html --format pdf",
    ),
    "guidelines check": (
        "检查指南集：每个问题给出 文件:行:列 和修改提示；有问题时退出码为 1。",
        "Check a guideline set: every problem with file:line:col and a hint; exit 1 if any.",
        "sangao guidelines check guidelines/national-default",
    ),
    "guidelines schema": (
        "打印指南文件的 draft-07 JSON Schema；或用 --write DIR 把指南文件、*.cases.yaml 和 set.yaml 的 "
        "schema 写入文件夹，供编辑器使用；`fact:` 列出基础事实和指南集 PATH "
        "的派生事实（该指南集无法载入时只列基础事实）。",
        "Print the draft-07 JSON Schema of a guideline file, or with --write DIR write the schemas of "
        "guideline files, *.cases.yaml and set.yaml for an editor; `fact:` lists the base facts and the "
        "derived facts of the set PATH (base facts only if that set does not load).",
        "sangao guidelines schema --write .schemas",
    ),
    "guidelines new": (
        "新建一个指南集（national-default 的副本），或用 --extends SET 新建一个叠加集；新建后即可通过 "
        "`guidelines check` 和 `guidelines test`。",
        "Start a guideline set (a copy of national-default) or, with --extends SET, an overlay; it "
        "passes `guidelines check` and `guidelines test` as created.",
        "sangao guidelines new my-county --extends national-default",
    ),
    "guidelines effective": (
        "打印叠加后的生效指南集：每个参数（值、单位）和每条规则，附其来源 文件:行。",
        "Print the effective set after overlays: each parameter (value, unit) and rule, with the "
        "file:line it came from.",
        "sangao guidelines effective ./my-county",
    ),
    "guidelines test": (
        "运行指南集的全部 *.cases.yaml 案例（叠加集还包括其基础集的案例），每个失败在其 文件:行 显示，"
        "并列出触发的规则；报告生效指南集的覆盖情况。",
        "Run every *.cases.yaml example of a set (for an overlay, its base sets' cases too), show each "
        "failure at its file:line with the rules that fired, report coverage of the effective set.",
        "sangao guidelines test guidelines/national-default",
    ),
    "guidelines explain": (
        "显示一条规则（何时触发、意味着什么、出处和核实情况），或按颜色显示整个指南集。",
        "Show a rule (when it fires, what it implies, its source and verification) or the whole set by "
        "colour.",
        "sangao guidelines explain htn.urgent_bp",
    ),
    "guidelines diff": (
        "比较同一指南集的两个版本：有多少患者的颜色、转诊或随访日期发生变化；--by 按团队或机构分列，"
        "--changes-csv 把每位变化的患者写入 CSV。",
        "How many patients change colour, referral or follow-up date between two versions of a set, per "
        "team or institution with --by, every changed patient as CSV with --changes-csv.",
        "sangao guidelines diff national-default ./my-county --roster r.jsonl --by team",
    ),
    "report monthly": (
        "质控月报：全部指标（默认年初至今），全辖区或一个机构/团队；下级单位排名与得分、"
        "近12个月趋势（含2030年目标线）、季度队列、数据质量。输出 monthly-YYYY-MM.html（单文件，"
        "离线可看）、.csv（每个指标值，按代码、机构、团队、月份）和 .pdf，并在终端打印摘要。",
        "The monthly quality-control report: every indicator (year to date by default), for the whole "
        "area or one institution or team; the units below ranked and scored, the 12-month trend (with "
        "the 2030 target line), quarterly cohorts, data quality. Writes monthly-YYYY-MM.html (one file, "
        "readable offline), .csv (every indicator value by code, institution, team and month) and .pdf, "
        "and prints a summary on the terminal.",
        "sangao report monthly --month 2026-11 --db sangao.db --out reports/",
    ),
    "report patients": (
        "指标明细：列出一个指标值背后的患者及原因（未控制、不规范: n/m 次随访、无读数），姓名已脱敏。",
        "The patients behind an indicator value, with the reason (not controlled, irregular: n/m "
        "follow-ups, no reading); names masked.",
        "sangao report patients --indicator H02 --team 张医生团队 --month 2026-11",
    ),
    "demo": (
        "在生成的花名册上跑一遍完整流程：生成 → 导入 SQLite → 检查指南集 → 评估全部患者 → "
        "解释一名红标患者 → 该患者团队本周的工作清单 → 该患者的年度照护计划（HTML 和 PDF）→ "
        "最近一个完整月的质控月报。打印每个输出的位置；姓名、身份证号和电话保持脱敏。",
        "Run the whole pipeline on a generated roster: generate → import into SQLite → check the "
        "guideline set → assess everyone → explain one red patient → that patient's team's worklist for "
        "the week → the patient's annual care plan as HTML and PDF → the monthly report of the last "
        "complete month. Prints where every output is; names, IDs and phones stay masked.",
        "sangao demo --patients 2000 --as-of 2026-11-30",
    ),
}


# Options and arguments: "command --option" (or "command ARGUMENT"); an option several commands
# share by the same alias in cli.py: "--option" alone.
OPTIONS: dict[str, tuple[str, str]] = {
    "--as-of": ("评估日期（默认：今天，北京时间）", "evaluation date (default: today, China time)"),
    "--db": ("SQLite 文件路径，或数据库 URL（sqlite:///x.db、postgresql+psycopg://user@host/db）",
             "SQLite file path, or a URL (sqlite:///x.db, postgresql+psycopg://user@host/db)"),
    "--lang": ("输出语言：zh 或 en（默认 zh；SANGAO_LANG 或 LANG 为 en 时为 en）",
               "zh or en (default: zh, unless SANGAO_LANG or LANG says en)"),
    "roster import FILES": ("花名册文件：" + suffixes_help("zh"), "roster files: " + suffixes_help("en")),
    "roster import --mapping": ("站点映射（YAML）：把本站的表头、代码值和表名对应到交换格式字段",
                                "YAML mapping of the site's headers, labels and table names to interchange "
                                "fields"),
    "roster import --rejects": ("把被拒绝的行及原因写入此 CSV",
                                "write rejected rows with reasons to this CSV"),
    "roster import --unmasked": ("在 --rejects 的原始内容列中保留姓名、身份证号和电话（记入审计日志）",
                                 "keep names, resident IDs and phones in the --rejects raw column "
                                 "(recorded in the audit log)"),
    "roster inspect FILES": ("导出文件：.csv（每个目录一组）、.xlsx、.xls、.zip",
                             "export files: .csv (a set per directory), .xlsx, .xls, .zip"),
    "roster inspect --out": ("映射建议写入此文件（默认：打印）",
                             "write the proposed mapping here (default: print)"),
    "roster inspect --mapping": ("作为起点的映射（修改后再检查一遍）",
                                 "a mapping to start from (inspect again after editing)"),
    "roster inspect --sample": ("每个表读取的数据行数", "data rows read per table"),
    "roster export --format": ("jsonl：交换格式；parquet：按患者编号分桶的文件夹",
                               "jsonl: the interchange format; parquet: a folder bucketed by patient id"),
    "roster export --out": ("写入的文件（默认：标准输出）；parquet 为文件夹",
                            "file to write (default: standard output); a folder for parquet"),
    "roster export --buckets": ("parquet 的分桶文件数（每个 Dask 分区一个）",
                                "parquet: bucket files (one Dask partition each)"),
    "roster export --institution": ("parquet：只导出此机构的患者（可重复；按机构分片，docs/scale.md）",
                                    "parquet: only this institution's patients (repeatable; a shard by "
                                    "institution, docs/scale.md)"),
    "roster generate --patients": ("患者人数", "how many patients"),
    "roster generate --seed": ("随机种子；种子和 --as-of 相同则文件相同",
                               "random seed; the same seed and --as-of give the same file"),
    "roster generate --out": ("JSONL 文件（默认：标准输出）；csv 格式时为目录（默认：roster-csv）",
                              "JSONL file (default: standard output); for csv, a directory (default: "
                              "roster-csv)"),
    "roster generate --format": ("jsonl（交换格式 §1）或 csv（中文表头的患者/随访/化验/筛查表）",
                                 "jsonl (interchange §1) or csv (Chinese-header "
                                 "patients/visits/labs/screenings tables)"),
    "--guidelines": ("指南集：名称（national-default）或文件夹",
                     "guideline set: a name (national-default) or a folder"),
    "--roster": ("直接从 JSONL/CSV/XLSX 文件读取患者，不用 --db",
                 "read patients straight from a JSONL/CSV/XLSX file instead of --db"),
    "--provisional-calendar": ("现已是默认：没有国务院放假通知的年份使用法定节假日（不含调休上班日），"
                               "每份输出都带提示；--strict-calendar 则拒绝",
                               "now the default: a year without the State Council notice uses the "
                               "statutory holidays (no make-up working days) and every output carries a "
                               "warning; --strict-calendar refuses"),
    "--strict-calendar": ("日期落在没有国务院放假通知的年份时报错（默认：按法定节假日的临时日历，"
                          "每份输出都带提示）",
                          "a date in a year without the State Council holiday notice is an error (default: "
                          "the provisional calendar of the holiday law, with a warning in every output)"),
    "--calendar-dir": ("<年份>.yaml 节假日文件所在文件夹（holidays:、makeup_workdays:），替换该年的临时日历",
                       "folder of <year>.yaml holiday files (holidays:, makeup_workdays:) that replace the "
                       "provisional calendar of that year"),
    "assess --format": ("table（表格，给人看）、jsonl（交换格式 §2）、csv；parquet（仅 --executor dask，"
                        "--out 文件夹）",
                        "table (people), jsonl (interchange §2), csv; parquet (--executor dask only, "
                        "--out FOLDER)"),
    "assess --out": ("写入此文件，不输出到终端", "write to this file instead of the terminal"),
    "assess --engine": ("规则引擎；both = 两个引擎互相核对，结果不一致即停止",
                        "rules backend; both = cross-check, stop on disagreement"),
    "assess --workers": ("评估用的进程数（默认：CPU 核数；花名册小时为 1）",
                         "processes to assess with (default: the cores; one for a small roster)"),
    "assess --save": ("把评估结果连同指南版本存入 --db",
                      "store the assessments in --db with the guideline version"),
    "assess --limit": ("表格显示的行数（最紧急的）", "table rows to show (the most urgent)"),
    "assess --color": ("只看此颜色（可重复）", "only this colour (repeatable)"),
    "assess --referral": ("只看需转诊的患者", "only patients to refer"),
    "assess --team": ("只看此家庭医生团队", "only this family-doctor team"),
    "assess --due-within": ("只看 --as-of 后 DAYS 天内到期的随访",
                            "only follow-ups due within DAYS of --as-of"),
    "assess --executor": ("local：本机进程；dask：在 Dask 集群上评估 roster export --format parquet "
                          "写出的文件夹（--roster 文件夹；docs/scale.md）",
                          "local: processes on this machine; dask: assess a folder written by roster export "
                          "--format parquet on a Dask cluster (--roster FOLDER; docs/scale.md)"),
    "assess --scheduler": ("Dask 调度器地址（tcp://主机:8786）；默认在本机启动 --workers 个工作进程",
                           "Dask scheduler address (tcp://host:8786); default: start --workers worker "
                           "processes here"),
    "explain PATIENT_ID": ("患者编号、姓名或身份证号", "patient id, name or resident ID"),
    "worklist --team": ("一个家庭医生团队（花名册中的团队）", "one family-doctor team (the roster's team)"),
    "worklist --week": ("--as-of 所在周的周一到周日", "Monday to Sunday of the --as-of week"),
    "worklist --month": ("--as-of 所在的自然月", "the calendar month of --as-of"),
    "worklist --from": ("起始日期（与 --to 同用）", "period start (with --to)"),
    "worklist --to": ("结束日期（默认：--from 后 6 天）", "period end (default: 6 days after --from)"),
    "worklist --format": ("table（表格）或 csv", "table or csv"),
    "worklist --out": ("写入此文件", "write to this file"),
    "worklist --call-list": ("可打印的电话联系清单：姓名、电话、原因、上次随访（除非 --unmasked，否则脱敏）",
                             "a printable call list: name, phone, reason, last visit (masked unless "
                             "--unmasked)"),
    "worklist --unmasked": ("联系清单显示完整姓名和电话，仅供本团队使用；记入审计日志",
                            "full names and phones on the call list, for the team's own use; audited"),
    "worklist --limit": ("表格显示的行数", "table rows to show"),
    "plan PATIENT": ("患者编号、姓名或身份证号（或用 --team / --all）",
                     "patient id, name or resident ID (or --team / --all)"),
    "plan --team": ("此团队的全部患者", "every patient of this team"),
    "plan --all": ("全部在管患者", "every patient under management"),
    "plan --from": ("计划日期（默认：--as-of），覆盖其后 12 个月",
                    "plan date (default: --as-of); it covers 12 months"),
    "plan --out": ("计划文件的输出文件夹", "folder for the plan files"),
    "plan --format": ("输出格式，可重复（默认：html、csv、ics；pdf 需指定）",
                      "outputs, repeatable (default: html, csv, ics; pdf on request)"),
    "plan --capacity": ("各团队每日接诊能力的 YAML（per_day、停诊日）；随访据此错开安排",
                        "YAML of each team's daily capacity (per_day, closed days); follow-ups are spread "
                        "to fit"),
    "plan --save/--no-save": ("把计划存入 --db（下一份计划会列出变化）",
                              "store the plans in --db (the next plan lists what changed)"),
    "plan --workers": ("制定计划用的进程数（默认：CPU 核数；患者少时为 1）",
                       "processes to make the plans with (default: the cores; one for a small roster)"),
    "plan --reprint": ("按原样重印库中 --from 日期的计划，不重新计算",
                       "print the plans stored for --from exactly as they were made, without recomputing"),
    "guidelines schema --write": ("把指南文件、案例文件和 set.yaml 的 schema 写入此文件夹",
                                  "write the schemas of guideline files, cases files and set.yaml into "
                                  "this folder"),
    "guidelines new NAME": ("新指南集的文件夹（文件夹名即指南集名称）",
                            "the folder of the new set (its name is the set's name)"),
    "guidelines new --extends": ("新建此指南集（内置名称或文件夹）的叠加集，而不是副本",
                                 "start an overlay of this set (a packaged name or a folder) instead of a "
                                 "copy"),
    "guidelines test PATH": ("指南集：名称或文件夹", "guideline set: a name or a folder"),
    "guidelines test --engine": ("规则引擎", "rules backend"),
    "guidelines test --coverage/--no-coverage": ("报告没有案例覆盖的规则、决策表行和阈值",
                                                 "report rules, table rows and thresholds no case covers"),
    "guidelines test --draft-changes": ("叠加集：为结果已变、尚未确认的基础集案例打印 `expected_changes:` "
                                        "块",
                                        "overlays: print an `expected_changes:` block for the base cases "
                                        "changed, not yet confirmed"),
    "guidelines explain RULE_ID": ("规则编号；省略则按颜色显示整个指南集",
                                   "a rule id; omit for the whole set by colour"),
    "guidelines explain --guidelines": ("指南集：名称或文件夹", "guideline set: a name or a folder"),
    "guidelines diff OLD": ("已发布的指南集（名称或文件夹）", "the published set (name or folder)"),
    "guidelines diff NEW": ("修改后的指南集（名称或文件夹）", "the changed set (name or folder)"),
    "guidelines diff --roster": ("花名册文件（JSONL/CSV/XLSX），或数据库（.db 路径或 URL）",
                                 "a roster file (JSONL/CSV/XLSX), or a database (.db path or URL)"),
    "guidelines diff --by": ("按团队或按机构分列变化", "the changes per team or per institution"),
    "guidelines diff --changes-csv": ("把每位变化的患者（patient_id、团队、机构；不含姓名）写入此 CSV",
                                      "write every changed patient (patient_id, team, institution; no "
                                      "names) to this CSV"),
    "guidelines diff --indicators": ("同时显示 --as-of 时最近一个完整月的质控指标（血压控制率 …）如何变化，"
                                     "全花名册及按团队",
                                     "also show how the quality-control indicators (血压控制率 …) of the "
                                     "last complete month at --as-of change, for the roster and by team"),
    "--month": ("报告月份（默认：--as-of 时最近一个完整月）",
                "month of the report (default: the last complete month at --as-of)"),
    "report monthly --by": ("下级单位表：institution 机构，或 team 全部团队",
                            "the table of units below: institution, or team (every team)"),
    "report monthly --institution": ("只报告一个机构（下级为其团队）",
                                     "one institution only (its teams below it)"),
    "report monthly --team": ("只报告一个团队", "one team only"),
    "report monthly --out": ("HTML、CSV、PDF 文件的输出目录", "folder for the HTML, CSV and PDF files"),
    "report monthly --window": ("ytd 年初至今（默认）；rolling12 含本月的近12个月",
                                "ytd: year to date (default); rolling12: the 12 months up to and including "
                                "the month"),
    "report monthly --external": ("对外版：少于5人的计数显示为“<5”",
                                  "for outside readers: counts under 5 shown as \"<5\""),
    "report monthly --pdf/--no-pdf": ("同时输出 PDF", "write the PDF too"),
    "report monthly --workers": ("生成患者月度状态用的进程数（默认：CPU 核数；花名册小时为 1）",
                                 "processes to build the patient-month rows with (default: the cores; "
                                 "one for a small roster)"),
    "report patients --indicator": ("指标代码，如 H02（血压控制率）",
                                    "indicator code, e.g. H02 (血压控制率, blood pressure control)"),
    "report patients --team": ("团队", "team"),
    "report patients --institution": ("机构", "institution"),
    "report patients --in": ("numerator 分子、denominator 分母，或 not-numerator 在分母不在分子（默认）",
                             "numerator, denominator, or not-numerator: in the denominator, not the "
                             "numerator (default)"),
    "report patients --window": ("ytd（年初至今）或 rolling12（近12个月）",
                                 "ytd (year to date) or rolling12 (12 months)"),
    "demo --out": ("演示文件的输出文件夹（会被替换）", "folder for the demo's files (replaced)"),
    "demo --patients": ("花名册人数", "roster size"),
    "demo --seed": ("生成花名册的随机种子", "random seed of the generated roster"),
    "SET": ("指南集：内置名称或文件夹", "guideline set: a packaged name or a folder"),
    "--include-unverified": ("载入出处核实等级为 U（未核实）的规则（默认：按 set.yaml）",
                             "load rules whose source is verification U (default: as set.yaml says)"),
}


# The command line's own usage errors and one-line results: key → (Chinese, English), filled with
# str.format fields. cli.py raises and prints them; reports/cli_errors.py frames a usage error (exit 2).
MESSAGES: dict[str, tuple[str, str]] = {
    "not a date": ("{value!r} 不是日期；请写成 YYYY-MM-DD", "{value!r} is not a date; write YYYY-MM-DD"),
    "not a month": ("{value!r} 不是月份；请写成 YYYY-MM，如 2026-11",
                    "{value!r} is not a month; write YYYY-MM, e.g. 2026-11"),
    "lang": ("--lang 只能是 zh 或 en", "--lang is zh or en"),
    "unmasked needs rejects": ("--unmasked 显示 --rejects 文件的原始列：请同时给出 --rejects",
                               "--unmasked shows the raw column of --rejects FILE; give --rejects too"),
    "unmasked needs call list": ("--unmasked 只用于电话名单：请加上 --call-list",
                                 "--unmasked is for the call list: add --call-list"),
    "parquet needs folder": ("--format parquet 需要一个文件夹：--out 文件夹",
                             "--format parquet writes a folder: give --out FOLDER"),
    "institution needs parquet": ("--institution 只用于 --format parquet",
                                  "--institution is for --format parquet"),
    "out is a directory": ("{out} 是文件夹；请给出文件名，如 {example}",
                           "{out} is a directory; give a file name such as {example}"),
    "csv needs a folder": ("{out} 是文件；csv 需要一个文件夹存放各表",
                           "{out} is a file; csv needs a directory for its tables"),
    "one period": ("只能给出 --week、--month 或 --from 之一", "give one of --week, --month or --from"),
    "to before from": ("--to {last} 早于 --from {first}", "--to {last} is before --from {first}"),
    "one plan target": ("请只给出一个：PATIENT、--team T 或 --all", "give one PATIENT, --team T or --all"),
    "not an indicator": ("{value!r} 不是指标代码；可用代码：{codes}",
                         "{value!r} is not an indicator code; codes: {codes}"),
    "db wait": ("SANGAO_DB_WAIT={value!r} 不是秒数", "SANGAO_DB_WAIT={value!r} is not a number of seconds"),
    "wrote patients": ("已写出 {count} 名患者到 {out}", "wrote {count} patients to {out}"),
    "wrote parquet": ("已写出 {count} 名患者到 {out}/（{buckets} 个分桶文件和 manifest.json）",
                      "wrote {count} patients to {out}/ ({buckets} bucket files and manifest.json)"),
    "wrote csv set": ("已写出 {count} 名患者到 {out}/（{files}）",
                      "wrote {count} patients to {out}/ ({files})"),
    "wrote files": ("已写入 {files}", "wrote {files}"),
    "patients behind": ("{code} {month} {which}：{count} 名患者", "{code} {month} {which}: {count} patients"),
    # Click's and Typer's own errors (reports/cli_errors.py): the frame, then Typer's messages worded
    # again (the English is Typer's own, but for a value pydantic refused: that names the value).
    "usage": ("用法：{command} {pieces}", "Usage: {command} {pieces}"),
    "options metavar": ("[选项]", "[OPTIONS]"),
    "command metavar": ("命令 [参数]...", "COMMAND [ARGS]..."),
    "try help": ("运行 {command} 查看帮助。", "Try {command} for help."),
    "error": ("错误", "Error"),
    "aborted": ("已中止。", "Aborted."),
    "invalid value for": ("{hint} 的值无效：{message}", "Invalid value for {hint}: {message}"),
    "invalid value": ("值无效：{message}", "Invalid value: {message}"),
    "missing argument": ("缺少参数 {hint}。", "Missing argument {hint}."),
    "missing option": ("缺少选项 {hint}。", "Missing option {hint}."),
    "no such option": ("没有选项 {name}", "No such option: {name}"),
    "possible options": ("（可用的选项：{options}）", " (Possible options: {options})"),
    "no such command": ("没有命令 {name}。", "No such command {name}."),
    "no such command, did you mean": ("没有命令 {name}。是否想用 {names}？",
                                      "No such command {name}. Did you mean {names}?"),
    "missing command": ("缺少命令。", "Missing command."),
    "extra arguments": ("多余的参数：{args}", "Got unexpected extra argument(s) ({args})"),
    "option needs a value": ("选项 {name} 需要一个值。", "Option {name} requires an argument."),
    "option needs values": ("选项 {name} 需要 {nargs} 个值。", "Option {name} requires {nargs} arguments."),
    "option takes no value": ("选项 {name} 不带值。", "Option {name} does not take a value."),
    "argument takes values": ("参数 {name} 需要 {nargs} 个值。", "Argument {name} takes {nargs} values."),
    "not one of": ("{value} 不是可选值之一（{choices}）", "{value} is not one of {choices}."),
    "path kind file": ("文件", "file"),
    "path kind dir": ("文件夹", "dir"),
    "path kind path": ("路径", "path"),
    "path does not exist": ("{kind} {path} 不存在。", "{kind} {path} does not exist."),
    "path is a file": ("{kind} {path} 是文件，这里要文件夹。", "{kind} {path} is a file."),
    "path is a directory": ("{kind} {path} 是文件夹，这里要文件。", "{kind} {path} is a directory."),
    "path is not readable": ("{kind} {path} 不可读。", "{kind} {path} is not readable."),
    "path is not writable": ("{kind} {path} 不可写。", "{kind} {path} is not writable."),
    "not an integer": ("{value!r} 不是整数", "{value!r} is not an integer"),
    "not a number": ("{value!r} 不是数字", "{value!r} is not a number"),
    "at least": ("须不小于 {limit}（给出的是 {value}）", "must be at least {limit} (got {value})"),
    "at most": ("须不大于 {limit}（给出的是 {value}）", "must be at most {limit} (got {value})"),
}


def message(key: str, lang: str, **fields: object) -> str:
    """The command line's message `key` in `lang` ("zh" or "en")."""
    zh, en = MESSAGES[key]
    return (en if lang == "en" else zh).format(**fields)


def group_help(name: str, lang: str) -> str:
    """The help of the app ("") or a command group, in `lang`."""
    zh, en = GROUPS[name]
    return en if lang == "en" else zh


def option_help(key: str, lang: str) -> str:
    """An option's or argument's help in `lang`."""
    zh, en = OPTIONS[key]
    return en if lang == "en" else zh


def command_help(path: str, lang: str) -> str:
    """A command's help in `lang` ("zh" or "en"), ending with its example."""
    zh, en, example = COMMANDS[path]
    text = (en if lang == "en" else zh).replace("{formats}", formats_help(lang))
    return f"{text}\n\n{EXAMPLE_LABEL[lang == 'en']}{example}"


EXAMPLE_LABEL = ("示例：", "Example: ")  # (zh, en)
USAGE_PREFIX = "用法："
HELP_OPTION = ("Show this message and exit.", "显示本帮助并退出。")  # Typer's words, and ours


def _chinese_usage_line() -> None:
    """The help screen's usage line starts 用法：(Typer's formatter, or Click's for an older Typer)."""
    try:
        from typer._click.formatting import HelpFormatter
    except ImportError:
        from click.formatting import HelpFormatter
    from reports.cli_errors import usage_words  # help screens only

    english = HelpFormatter.write_usage

    def write_usage(self, prog, args="", prefix=None):
        return english(self, prog, usage_words(args, "zh"), USAGE_PREFIX if prefix is None else prefix)

    HelpFormatter.write_usage = write_usage


def chinese_help_layout() -> None:
    """Typer's own words of the help screen in Chinese, and help text folded rather than cut: Rich
    wraps at spaces, so a Chinese sentence is one long "word" that a narrow column would end with
    "…" (tests/test_cli_help.py checks that nothing is cut on an 80-column terminal)."""
    import typer.rich_utils as rich_help
    from rich.text import Text

    rich_help.OPTIONS_PANEL_TITLE, rich_help.ARGUMENTS_PANEL_TITLE = "选项", "参数"
    rich_help.COMMANDS_PANEL_TITLE = "命令"
    rich_help.DEFAULT_STRING, rich_help.ENVVAR_STRING = "[默认: {}]", "[环境变量: {}]"  # a space to wrap at
    rich_help.REQUIRED_LONG_STRING = "[必填]"
    _chinese_usage_line()
    make_text = getattr(rich_help, "_make_rich_text", None)
    if make_text is None:  # another Typer: the words above still apply
        return

    def folded(**kwargs):
        if kwargs.get("text") == HELP_OPTION[0]:
            kwargs["text"] = HELP_OPTION[1]
        text = make_text(**kwargs)
        if isinstance(text, Text):
            text.overflow = "fold"
        return text

    rich_help._make_rich_text = folded

/*
 * Charts of the region dashboard and the つながり page, drawn with Apache
 * ECharts (/vendor/echarts.min.js) from the page's JSON data block (#page-data); the national view's
 * map is drawn on the server instead (api/japan_map.py, national-map.js). Every chart has
 * the same numbers in a table next to it (server-rendered), so the charts add no figure of their own.
 */
(function () {
  "use strict";

  const T = window.Tsunagari;
  const t = T.t;
  const echarts = window.echarts;
  const dataElement = document.getElementById("page-data");
  if (!echarts || !dataElement) return;
  const DATA = JSON.parse(dataElement.textContent || "{}");
  const LANG = DATA.lang || document.documentElement.lang || "ja";
  const FONT = getComputedStyle(document.body).fontFamily;
  const BRAND = "#0b6e4f";
  const PALETTE = [BRAND, "#d9822b", "#3b6fb6", "#a4262c", "#7a5cb0", "#5f7f1f"];
  const REDUCED = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const charts = [];

  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function num(value) {
    return value === null || value === undefined ? "—" : T.formatNumber(value, LANG);
  }

  function base(extra) {
    return Object.assign(
      {
        color: PALETTE,
        textStyle: { fontFamily: FONT },
        animation: !REDUCED,
        grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", confine: true },
        legend: { top: 0, type: "scroll" },
      },
      extra,
    );
  }

  const BUILDERS = {
    monthly: function (d) {
      const m = d.monthly;
      return base({
        xAxis: { type: "category", data: m.months },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: t("fig.kankei"), type: "line", data: m.kankei, smooth: false, symbolSize: 7, lineStyle: { width: 3 } },
          { name: t("fig.participants"), type: "line", data: m.participants, lineStyle: { type: "dashed" } },
          { name: t("fig.new"), type: "bar", stack: "active", data: m.new, barMaxWidth: 28 },
          { name: t("fig.returning"), type: "bar", stack: "active", data: m.returning, barMaxWidth: 28 },
        ],
      });
    },
    funnel: function (d) {
      return base({
        tooltip: { trigger: "axis", confine: true, valueFormatter: num },
        legend: { show: false },
        grid: { left: 8, right: 40, top: 16, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: d.stages.labels, inverse: true },
        series: [
          {
            name: t("fig.people"),
            type: "bar",
            data: d.stages.values,
            label: { show: true, position: "right", formatter: (p) => num(p.value) },
            barMaxWidth: 34,
          },
        ],
      });
    },
    types: function (d) {
      return compare(d.types);
    },
    bands: function (d) {
      return compare(d.bands);
    },
    cohorts: function (d) {
      const c = d.cohorts;
      const offsets = [];
      for (let i = 0; i < c.offsets; i += 1) offsets.push(t("fig.month_offset", { n: i }));
      return base({
        tooltip: {
          confine: true,
          formatter: (p) => c.months[p.value[1]] + " · " + offsets[p.value[0]] + ": " + (p.value[2] === null ? "—" : p.value[2] + "%"),
        },
        legend: { show: (c.hidden || []).length > 0, top: 0, right: 0, data: [t("chart.hidden_cells")] },
        grid: { left: 8, right: 16, top: 28, bottom: 56, containLabel: true },
        // no split areas: a month not reached yet stays blank, never the colour of 0 %
        xAxis: { type: "category", data: offsets, splitArea: { show: false } },
        yAxis: { type: "category", data: c.months, inverse: true, splitArea: { show: false } },
        visualMap: {
          min: 0,
          max: 100,
          calculable: false,
          orient: "horizontal",
          left: "center",
          bottom: 0,
          itemHeight: 120,
          text: ["100%", "0%"],
          inRange: { color: ["#d6ece1", "#7fc4a6", BRAND] },
          seriesIndex: 0,
        },
        series: [
          {
            type: "heatmap",
            data: c.cells.filter((cell) => cell[2] !== null),
            label: { show: c.offsets <= 8, formatter: (p) => Math.round(p.value[2]) },
          },
          {
            // suppressed cells (fewer than k people): hatched grey, never drawn as 0 %; months not yet
            // reached have no cell at all
            type: "heatmap",
            name: t("chart.hidden_cells"),
            data: (c.hidden || []).map((cell) => [cell[0], cell[1], 0]),  // a value, or the heatmap skips it
            itemStyle: { color: "#e4e4e4", decal: { symbol: "rect", dashArrayX: [1, 0], dashArrayY: [2, 3], rotation: -0.8 } },
            tooltip: { formatter: (p) => c.months[p.value[1]] + " · " + offsets[p.value[0]] + ": " + t("chart.hidden_cells") },
          },
        ],
      });
    },
    returning: function (d) {
      return base({
        tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => (v === null ? "—" : v + "%") },
        legend: { show: false },
        xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", data: d.returning.labels, inverse: true, axisLabel: { width: 200, overflow: "break" } },
        series: [{ name: t("fig.return_rate"), type: "bar", data: d.returning.rates, barMaxWidth: 22 }],
      });
    },
    overlap: function (d) {
      return base({
        tooltip: { trigger: "axis", confine: true, valueFormatter: num },
        legend: { show: false },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: d.overlap.labels, inverse: true },
        series: [{ name: t("fig.shared"), type: "bar", data: d.overlap.values, barMaxWidth: 28 }],
      });
    },
    coins: function (d) {
      const m = d.monthly;
      return base({
        tooltip: { trigger: "axis", confine: true, valueFormatter: num },
        xAxis: { type: "category", data: m.months },
        yAxis: { type: "value" },
        series: [
          { name: t("fig.issued"), type: "bar", data: m.issued, barMaxWidth: 24 },
          { name: t("fig.spent"), type: "bar", data: m.spent, barMaxWidth: 24 },
          { name: t("fig.clawed_back"), type: "bar", data: m.clawed_back, barMaxWidth: 24 },
        ],
      });
    },
    "tie-radar": function (d, element) {
      const tie = d.ties[Number(element.dataset.index)];
      const c = tie.components;
      const keys = ["continuity", "frequency", "diversity", "recency", "intensity"];
      const names = {
        continuity: t("comp.continuity"),
        frequency: t("comp.frequency"),
        diversity: t("comp.diversity"),
        recency: t("comp.recency"),
        intensity: t("comp.intensity"),
      };
      return {
        color: [BRAND],
        textStyle: { fontFamily: FONT },
        animation: false,
        tooltip: { confine: true },
        radar: {
          radius: "62%",
          indicator: keys.map((key) => ({ name: names[key], max: 1 })),
          axisName: { color: "#4a5560", fontSize: 11 },
          splitNumber: 4,
        },
        series: [
          {
            type: "radar",
            data: [{ value: keys.map((key) => Number(c[key].toFixed(3))), name: tie.name, areaStyle: { opacity: 0.25 } }],
          },
        ],
      };
    },
  };

  function compare(part) {
    return base({
      tooltip: { trigger: "axis", confine: true, valueFormatter: pct },
      xAxis: { type: "category", data: part.labels, axisLabel: { interval: 0, width: 90, overflow: "break" } },
      yAxis: { type: "value", axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } },
      series: [
        { name: t("chart.region"), type: "bar", data: part.region, barMaxWidth: 30 },
        { name: t("chart.national"), type: "bar", data: part.national, barMaxWidth: 30, itemStyle: { color: "#b9c4bd" } },
      ],
    });
  }

  document.querySelectorAll("[data-chart]").forEach((element) => {
    const build = BUILDERS[element.dataset.chart];
    if (!build) return;
    const chart = echarts.init(element, null, { renderer: "svg" });
    chart.setOption(build(DATA, element));
    element.dataset.ready = "true";
    charts.push(chart);
  });

  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => charts.forEach((chart) => chart.resize()), 150);
  });
})();

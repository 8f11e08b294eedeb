#!/usr/bin/env bash
# plot.sh DATA OUT - PNG plots (gnuplot) of the benchmark results in DATA
# (docs/bench-data) into OUT (docs): bench-startup.png, bench-context.png,
# bench-postgres.png, bench-supervisor.png, bench-scale.png.  A plot whose
# data is missing is skipped.
set -euo pipefail
DATA=$1 OUT=$2
mkdir -p "$OUT"
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot missing (apt-get install gnuplot-nox)" >&2; exit 1; }
TERM_PNG="set terminal pngcairo size 900,520 font 'sans,10' noenhanced"
made=()

if [ -f "$DATA/startup.csv" ]; then
  gnuplot <<EOF
$TERM_PNG
set output '$OUT/bench-startup.png'
set datafile separator ','
set title 'Start-up of /bin/true: median, bars from p25 to p75 (log scale)'
set ylabel 'ms'
set logscale y
set yrange [0.1:*]
set xrange [-0.6:*]
set style fill solid 0.6 border -1
set boxwidth 0.6 absolute
set xtics rotate by -30
set grid ytics
set key off
plot '$DATA/startup.csv' every ::1 using 0:2:xtic(1) with boxes lc rgb '#4477aa', \
     '' every ::1 using 0:2:5:6 with yerrorbars lc rgb 'black' pt -1, \
     '' every ::1 using 0:6:(sprintf('%.1f', \$2)) with labels offset 0,0.8
EOF
  made+=(bench-startup.png)
fi

if [ -f "$DATA/context.csv" ]; then
  f=$DATA/context.csv
  gnuplot <<EOF
$TERM_PNG
set output '$OUT/bench-context.png'
set datafile separator ','
set title 'Start-up with a context of N files (median)'
set xlabel 'files in the context'
set ylabel 'ms'
set logscale xy
set grid
set key top left
plot "< grep ',nucleus-copy,' $f" using 1:3 with linespoints lw 2 title 'nucleus --context (copy)', \
     "< grep ',nucleus-bind,' $f" using 1:3 with linespoints lw 2 title 'nucleus --context --context-mode bind', \
     "< grep ',cp-a-tmpfs,' $f" using 1:3 with linespoints lw 2 title 'cp -a into a tmpfs', \
     "< grep ',nucleus-no-context,' $f" using 1:3 with linespoints lw 2 dt 2 title 'nucleus, no context'
EOF
  made+=(bench-context.png)
fi

if [ -f "$DATA/postgres.csv" ]; then
  # means over rounds: test server tps
  awk -F, 'NR > 1 {k = $3 " " $2; s[k] += $4; n[k]++} END {for (k in s) print k, s[k] / n[k]}' "$DATA/postgres.csv" > "$DATA/.pg-means"
  servers=$(awk -F, 'NR > 1 && !seen[$2]++ {print $2}' "$DATA/postgres.csv" | sort | tr '\n' ' ')
  # bars: bare, nucleus, then the others
  servers=$(printf '%s\n' $servers | awk '{k = ($1 == "bare") ? 0 : ($1 == "nucleus") ? 1 : 2; print k, $1}' | sort | cut -d' ' -f2)
  sel() { awk -v t="$1" -v s="$2" '$1 == t && $2 == s {print $3}' "$DATA/.pg-means"; }
  rows() { local i=0 sv; for sv in $servers; do echo "$i $(sel "$1" "$sv")"; i=$((i + 1)); done; }
  tics=$(i=0; for sv in $servers; do printf "%s'%s' %d" "${sep:-}" "$sv" $i; sep=", "; i=$((i + 1)); done)
  gnuplot <<EOF
set terminal pngcairo size 1000,440 font 'sans,10' noenhanced
set output '$OUT/bench-postgres.png'
set multiplot layout 1,2 title 'pgbench TPS (mean over rounds), bare and under nucleus'
set style fill solid 0.6 border -1
set boxwidth 0.5
set yrange [0:*]
set grid ytics
set key off
set xtics ($tics) font ',9'
set title 'SELECT-only (-S)'
\$s << EOD
$(rows select)
EOD
plot \$s using 1:2 with boxes lc rgb '#4477aa', '' using 1:2:(sprintf('%.0f', \$2)) with labels offset 0,0.8
set title 'TPC-B (default script)'
\$t << EOD
$(rows tpcb)
EOD
plot \$t using 1:2 with boxes lc rgb '#cc6677', '' using 1:2:(sprintf('%.0f', \$2)) with labels offset 0,0.8
unset multiplot
EOF
  rm -f "$DATA/.pg-means"
  made+=(bench-postgres.png)
fi

if [ -f "$DATA/supervisor.csv" ]; then
  gnuplot <<EOF
$TERM_PNG
set output '$OUT/bench-supervisor.png'
set datafile separator ','
set title 'Memory of the supervising process while the container sleeps'
set ylabel 'KiB'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.6 border -1
set grid ytics
set key top left
plot '$DATA/supervisor.csv' every ::1 using 2:xtic(1) title 'VmRSS', '' every ::1 using 4 title 'Pss', '' every ::1 using 5 title 'RssAnon'
EOF
  made+=(bench-supervisor.png)
fi

if [ -f "$DATA/scale-ready.txt" ]; then
  gnuplot <<EOF
$TERM_PNG
set output '$OUT/bench-scale.png'
set title 'Containers started at once: how many are running after t'
set xlabel 's after the first launch'
set ylabel 'containers running'
set grid
set key off
set xrange [0:*]
set yrange [0:*]
plot '$DATA/scale-ready.txt' using 1:(1) smooth cumulative with steps lw 2
EOF
  made+=(bench-scale.png)
fi
printf '%s\n' "${made[@]}"

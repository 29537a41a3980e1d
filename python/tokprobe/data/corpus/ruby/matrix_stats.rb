# Descriptive statistics and a tiny linear regression, with a refinement of Array.

module Stats
  refine Array do
    def mean
      return nil if empty?

      sum.to_f / size
    end

    def variance(sample: true)
      return nil if size < (sample ? 2 : 1)

      m = mean
      sum { |x| (x - m)**2 } / (sample ? size - 1 : size)
    end

    def stddev(**opts)
      v = variance(**opts)
      v && Math.sqrt(v)
    end

    def median
      return nil if empty?

      s = sort
      mid = s.size / 2
      s.size.odd? ? s[mid] : (s[mid - 1] + s[mid]) / 2.0
    end

    def percentile(p)
      raise ArgumentError, 'p must be in 0..100' unless (0..100).cover?(p)
      return nil if empty?

      s = sort
      rank = (p / 100.0) * (s.size - 1)
      lo = rank.floor
      hi = rank.ceil
      s[lo] + (s[hi] - s[lo]) * (rank - lo)
    end
  end
end

using Stats

class Regression
  attr_reader :slope, :intercept

  def initialize(xs, ys)
    unless xs.size == ys.size && xs.size >= 2
      raise ArgumentError, 'need two equally long series with at least two points'
    end

    mx = xs.mean
    my = ys.mean
    sxy = xs.zip(ys).sum { |x, y| (x - mx) * (y - my) }
    sxx = xs.sum { |x| (x - mx)**2 }
    raise ZeroDivisionError, 'all x values are equal' if sxx.zero?

    @slope = sxy / sxx
    @intercept = my - @slope * mx
    @xs = xs
    @ys = ys
  end

  def predict(x)
    @intercept + @slope * x
  end

  def r_squared
    my = @ys.mean
    ss_tot = @ys.sum { |y| (y - my)**2 }
    ss_res = @xs.zip(@ys).sum { |x, y| (y - predict(x))**2 }
    ss_tot.zero? ? 1.0 : 1 - ss_res / ss_tot
  end

  def to_s
    format('y = %.3f * x + %.3f (R^2 = %.4f)', slope, intercept, r_squared)
  end
end

if __FILE__ == $0
  data = [2.5, 3.1, 4.7, 5.0, 6.2, 7.9, 8.1]
  puts "mean=#{data.mean.round(3)} median=#{data.median} sd=#{data.stddev.round(3)}"
  puts "p90=#{data.percentile(90).round(3)}"
  xs = (1..data.size).to_a
  puts Regression.new(xs, data)
end

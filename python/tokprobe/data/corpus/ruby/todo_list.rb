# frozen_string_literal: true

require 'json'
require 'time'

module Todo
  class Error < StandardError; end

  Task = Struct.new(:id, :title, :done, :due, :tags, keyword_init: true) do
    def overdue?(now = Time.now)
      !done && due && due < now
    end

    def to_h
      super.merge(due: due&.iso8601)
    end
  end

  class List
    include Enumerable

    attr_reader :name

    def initialize(name)
      @name = name
      @tasks = {}
      @next_id = 1
    end

    def add(title, due: nil, tags: [])
      raise Error, 'title must not be empty' if title.to_s.strip.empty?

      task = Task.new(id: @next_id, title: title, done: false, due: due, tags: tags.map(&:to_sym))
      @tasks[task.id] = task
      @next_id += 1
      task
    end

    def complete(id)
      task = @tasks.fetch(id) { raise Error, "no task #{id}" }
      task.done = true
      task
    end

    def each(&block)
      return enum_for(:each) unless block_given?

      @tasks.values.sort_by { |t| [t.done ? 1 : 0, t.due || Time.at(2**31)] }.each(&block)
    end

    def tagged(tag)
      select { |t| t.tags.include?(tag.to_sym) }
    end

    def overdue(now = Time.now)
      reject(&:done).select { |t| t.overdue?(now) }
    end

    def to_json(*args)
      { name: name, tasks: map(&:to_h) }.to_json(*args)
    end

    def self.from_json(text)
      data = JSON.parse(text, symbolize_names: true)
      list = new(data.fetch(:name))
      data.fetch(:tasks, []).each do |t|
        task = list.add(t[:title], due: t[:due] && Time.iso8601(t[:due]), tags: t[:tags] || [])
        list.complete(task.id) if t[:done]
      end
      list
    end
  end
end

if $PROGRAM_NAME == __FILE__
  list = Todo::List.new('home')
  list.add('water the plants', due: Time.now - 3600, tags: %w[garden daily])
  list.add('write report', due: Time.now + 86_400, tags: [:work])
  done = list.add('buy milk', tags: [:shopping])
  list.complete(done.id)

  list.each do |task|
    mark = task.done ? 'x' : ' '
    flag = task.overdue? ? ' (overdue)' : ''
    puts "[#{mark}] #{task.id}. #{task.title}#{flag}"
  end
  puts "overdue: #{list.overdue.map(&:title).join(', ')}"
  copy = Todo::List.from_json(list.to_json)
  puts "round trip ok: #{copy.count == list.count}"
rescue Todo::Error => e
  warn "error: #{e.message}"
  exit 1
end
